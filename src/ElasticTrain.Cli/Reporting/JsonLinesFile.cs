using System.Text;
using System.Text.Json;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// A file of JSON lines that several processes may append to in turn: after a coordinator failover
/// the new host appends to the file its predecessor wrote. Each line goes to the current end of the
/// file (not where this process's stream last was) and is flushed at once, so a kill -9 loses at
/// most the line being written; the next process to open the file ends that cut line first, so
/// that the lines after it parse.
/// </summary>
public sealed class JsonLinesFile : IDisposable
{
    private readonly FileStream _stream;

    public JsonLinesFile(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        if (_stream.Length > 0 && LastByte() != (byte)'\n')
        {
            _stream.Seek(0, SeekOrigin.End);
            _stream.WriteByte((byte)'\n');
            _stream.Flush();
        }
    }

    private int LastByte()
    {
        _stream.Seek(-1, SeekOrigin.End);
        return _stream.ReadByte();
    }

    public void Append(object record)
    {
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(record) + "\n");
        _stream.Seek(0, SeekOrigin.End);
        _stream.Write(line);
        _stream.Flush();
    }

    /// <summary>The file's length now, appends by other processes included.</summary>
    public long Length => _stream.Length;

    public void Dispose() => _stream.Dispose();
}
