using PagedSim.Model;
using PagedSim.Model.Parallel;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// <c>generate --tp N</c>'s model: on the CPU, N ranks as threads of this process with the in-process all-reduce; on
/// CUDA, one GPU per rank (cuda:0 … cuda:N−1) over NCCL. Checkpoint errors (including a degree the model's KV heads do
/// not allow) propagate as <see cref="Model.Checkpoints.CheckpointException"/>.
/// </summary>
internal static class GenerateTensorParallel
{
    public static Llama3 Load(string modelDir, int tp, Device device, int maxPositions)
    {
        if (device.type == DeviceType.CPU)
            return TensorParallel.Load(modelDir, [.. Enumerable.Repeat(CPU, tp)], ScalarType.Float32, new InProcessCollective(tp), maxPositions);
        int visible = (int)torch.cuda.device_count();
        if (visible < tp) throw new UserError($"--tp {tp}: needs {tp} CUDA devices, {visible} visible", Cli.Failed);
        Device[] devices = [.. Enumerable.Range(0, tp).Select(i => new Device(DeviceType.CUDA, i))];
        ICollective nccl;
        try
        {
            nccl = NcclCollective.CreateAll(devices);
        }
        catch (NcclException e)
        {
            throw new UserError($"--tp {tp}: {e.Message}", Cli.Failed, e);
        }
        try
        {
            return TensorParallel.Load(modelDir, devices, ScalarType.BFloat16, nccl, maxPositions);
        }
        catch
        {
            nccl.Dispose();
            throw;
        }
    }
}
