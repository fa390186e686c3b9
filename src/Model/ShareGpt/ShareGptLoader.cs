using System.Text.Json;

namespace PagedSim.Model.ShareGpt;

/// <summary>
/// Reads ShareGPT conversations: a JSON array of <c>{ "id": "...", "conversations": [ { "from": "human", "value": "..." },
/// { "from": "gpt", "value": "..." }, ... ] }</c>. As in the seed, each conversation with at least one message is a
/// request whose first message is the user turn (whoever its "from" names); the second message is the recorded answer.
/// Later messages are not used.
/// </summary>
public static class ShareGptLoader
{
    /// <summary>Loads the requests of a ShareGPT file.</summary>
    /// <exception cref="ShareGptFormatException">Missing file, malformed JSON, unexpected shape, or no requests.</exception>
    public static ShareGptRequests Load(string path) => Parse(path, root => Read(path, root));

    /// <summary>Loads every message of every conversation (for multi-turn traces): message 0, 2, 4, … are user
    /// turns and 1, 3, 5, … the recorded answers, whoever their "from" names (the seed's rule, extended).</summary>
    /// <exception cref="ShareGptFormatException">Missing file, malformed JSON, unexpected shape, or no message.</exception>
    public static IReadOnlyList<ShareGptConversation> LoadConversations(string path) => Parse(path, root =>
    {
        var conversations = new List<ShareGptConversation>();
        int index = 0;
        foreach ((string id, string where, JsonElement messages) in Conversations(path, root))
        {
            var texts = new List<string>(messages.GetArrayLength());
            foreach (JsonElement message in messages.EnumerateArray()) texts.Add(MessageText(path, where, message, texts.Count));
            if (texts.Count > 0) conversations.Add(new ShareGptConversation(id, texts));
            index++;
        }
        if (conversations.Count == 0) throw new ShareGptFormatException(path, $"none of the {index} conversations has a message");
        return conversations;
    });

    private static T Parse<T>(string path, Func<JsonElement, T> read)
    {
        if (Directory.Exists(path)) throw new ShareGptFormatException(path, "is a directory, not a ShareGPT file");
        if (File.Exists(path) && new FileInfo(path).Length == 0) throw new ShareGptFormatException(path, "is empty");
        JsonDocument document;
        try
        {
            using FileStream stream = File.OpenRead(path);
            document = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ShareGptFormatException(path, "file not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ShareGptFormatException(path, $"cannot read ({e.Message})", e);
        }
        catch (JsonException e)
        {
            throw new ShareGptFormatException(path, $"malformed JSON ({e.Message.Split('\n')[0].Split(" LineNumber")[0].Split(" Path:")[0].Trim()})", e);
        }
        using (document)
        {
            return read(document.RootElement);
        }
    }

    private static IEnumerable<(string Id, string Where, JsonElement Messages)> Conversations(string path, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Array)
            throw new ShareGptFormatException(path, $"expected a JSON array of conversations, found {Describe(root.ValueKind)}");
        if (root.GetArrayLength() == 0) throw new ShareGptFormatException(path, "the conversation list is empty");
        int index = 0;
        foreach (JsonElement conversation in root.EnumerateArray())
        {
            string where = $"conversation #{index}";
            if (conversation.ValueKind != JsonValueKind.Object)
                throw new ShareGptFormatException(path, $"{where} is {Describe(conversation.ValueKind)}, expected an object");
            string id = conversation.TryGetProperty("id", out JsonElement idElement) && idElement.ValueKind == JsonValueKind.String
                ? idElement.GetString()!
                : $"#{index}";
            where = $"conversation #{index} (\"{id}\")";
            if (!conversation.TryGetProperty("conversations", out JsonElement messages) || messages.ValueKind != JsonValueKind.Array)
                throw new ShareGptFormatException(path, $"{where} has no \"conversations\" array");
            yield return (id, where, messages);
            index++;
        }
    }

    private static ShareGptRequests Read(string path, JsonElement root)
    {
        var requests = new List<ShareGptRequest>();
        int count = 0;
        foreach ((string id, string where, JsonElement messages) in Conversations(path, root))
        {
            count++;
            int length = messages.GetArrayLength();
            if (length == 0) continue;
            string prompt = MessageText(path, where, messages[0], 0);
            string? answer = length > 1 ? MessageText(path, where, messages[1], 1) : null;
            requests.Add(new ShareGptRequest(id, prompt, answer));
        }
        if (requests.Count == 0) throw new ShareGptFormatException(path, $"none of the {count} conversations has a message");
        return new ShareGptRequests(requests, count);
    }

    private static string MessageText(string path, string where, JsonElement message, int position)
    {
        if (message.ValueKind != JsonValueKind.Object
            || !message.TryGetProperty("value", out JsonElement value) || value.ValueKind != JsonValueKind.String)
            throw new ShareGptFormatException(path, $"{where}, message {position} has no string \"value\"");
        return value.GetString()!;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
