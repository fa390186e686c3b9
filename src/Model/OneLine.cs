using System.Text;

namespace PagedSim.Model;

/// <summary>Messages that stay one line whatever a corrupted file's names and values hold.</summary>
internal static class OneLine
{
    /// <summary><paramref name="message"/> with every control character (newlines, NUL, …) written as <c>\xNN</c>.</summary>
    public static string Escape(string message)
    {
        if (!message.Any(char.IsControl)) return message;
        var sb = new StringBuilder(message.Length + 16);
        foreach (char c in message) sb.Append(char.IsControl(c) ? $"\\x{(int)c:x2}" : c);
        return sb.ToString();
    }
}
