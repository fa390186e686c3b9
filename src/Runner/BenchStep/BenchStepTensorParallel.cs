using PagedSim.Model;
using PagedSim.Model.Parallel;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// <c>bench-step --tp N</c>'s model: synthetic weights of the shape split over N ranks — CPU threads with the
/// in-process all-reduce, or cuda:0 … cuda:N−1 over NCCL — with eager kernels on every rank and each rank's own
/// attention backend. Its figures are per GPU: rank 0's weights and KV bytes, and the step including its all-reduces.
/// </summary>
internal static class BenchStepTensorParallel
{
    public static Llama3 Create(Llama3Config config, Device device, ScalarType dtype, int tp, string attentionChoice, int blockSize, ref string kernelsNote)
    {
        Device[] devices;
        ICollective collective;
        if (device.type == DeviceType.CPU)
        {
            devices = [.. Enumerable.Repeat(CPU, tp)];
            collective = new InProcessCollective(tp);
        }
        else
        {
            int visible = (int)torch.cuda.device_count();
            if (visible < tp) throw new UserError($"--tp {tp}: needs {tp} CUDA devices, {visible} visible", Cli.Failed);
            devices = [.. Enumerable.Range(0, tp).Select(i => new Device(DeviceType.CUDA, i))];
            try
            {
                collective = NcclCollective.CreateAll(devices);
            }
            catch (NcclException e)
            {
                throw new UserError($"--tp {tp}: {e.Message}", Cli.Failed, e);
            }
        }
        kernelsNote = $"tensor parallel {tp} ({collective.Name}), eager kernels on every rank";
        try
        {
            return TensorParallel.Synthetic(config, 0, devices, dtype, collective, 8192,
                attentionFor: d => AttentionChoice.Select(d, attentionChoice, blockSize, naive: false).Backend);
        }
        catch
        {
            collective.Dispose();
            throw;
        }
    }
}
