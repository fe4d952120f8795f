using System.Text;

namespace ElasticTrain.Ranks;

/// <summary>
/// Packs a model part's state sections into one byte array and cuts it into chunks for the trip to a
/// joiner, and back. Chunks of 1 MiB keep each remoting frame small, so heartbeats between them are
/// not held up for long (the full data plane for bulk bytes is a later piece of work).
/// </summary>
public static class StateTransfer
{
    public const int ChunkBytes = 1 << 20;

    public static byte[] Pack(IReadOnlyDictionary<string, byte[]> sections)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(sections.Count);
            foreach (var (name, bytes) in sections.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                writer.Write(name);
                writer.Write(bytes.Length);
                writer.Write(bytes);
            }
        }
        return stream.ToArray();
    }

    public static Dictionary<string, byte[]> Unpack(byte[] packed)
    {
        using var reader = new BinaryReader(new MemoryStream(packed), Encoding.UTF8);
        var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int i = reader.ReadInt32(); i > 0; i--)
        {
            var name = reader.ReadString();
            sections[name] = reader.ReadBytes(reader.ReadInt32());
        }
        return sections;
    }

    public static IEnumerable<StateChunk> Chunks(long generation, long step, ElasticTrain.Jobs.RankId from, byte[] packed, bool residuals = false)
    {
        int count = Math.Max(1, (packed.Length + ChunkBytes - 1) / ChunkBytes);
        for (int i = 0; i < count; i++)
        {
            int offset = i * ChunkBytes;
            yield return new StateChunk(generation, step, from, i, count, packed.AsSpan(offset, Math.Min(ChunkBytes, packed.Length - offset)).ToArray(), residuals);
        }
    }
}
