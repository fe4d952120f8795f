using System.Text.Json;

namespace ElasticTrain.Cli.Reporting;

/// <summary>
/// A JSON-lines file in which each committed step's lines appear once, in step order, however many
/// processes write it in turn. After a failover the new coordinator's node appends to the file its
/// predecessor wrote, and fills in from the journal a step the predecessor committed but did not
/// get to report; a predecessor that was only frozen may wake up and try to report that step late.
/// So a step's lines are written only when the step is past the last step in the file, which is
/// read again from the file's end whenever another process has appended since this one last did.
/// </summary>
public sealed class StepLines : IDisposable
{
    private const int ChunkBytes = 64 * 1024;

    private readonly string _path;
    private readonly Func<JsonElement, bool> _isStepLine;
    private readonly JsonLinesFile _file;
    private long _lastStep;
    private long _lengthSeen;

    /// <param name="isStepLine">Which lines are step lines (they carry a "step" number).</param>
    public StepLines(string path, Func<JsonElement, bool> isStepLine)
    {
        _path = path;
        _isStepLine = isStepLine;
        _file = new JsonLinesFile(path);
        Refresh();
    }

    /// <summary>The highest step with lines in the file; 0 if none.</summary>
    public long LastStep
    {
        get
        {
            if (_file.Length != _lengthSeen) Refresh();
            return _lastStep;
        }
    }

    /// <summary>Appends <paramref name="step"/>'s lines unless the file has them (or a later step's) already.</summary>
    public bool AppendStep(long step, IEnumerable<object> lines)
    {
        if (step <= LastStep) return false;
        foreach (var line in lines) _file.Append(line);
        _lastStep = step;
        _lengthSeen = _file.Length;
        return true;
    }

    /// <summary>Appends a line that is not a step line (a resume, a checkpoint).</summary>
    public void Append(object line)
    {
        if (_file.Length != _lengthSeen) Refresh();
        _file.Append(line);
        _lengthSeen = _file.Length;
    }

    /// <summary>
    /// A run that starts the job from step 1 owns the file's steps from here on: the lines before
    /// are another job's that happened to use the same file.
    /// </summary>
    public void StartOver() => _lastStep = 0;

    private void Refresh()
    {
        _lengthSeen = _file.Length;
        _lastStep = LastStepLine();
    }

    /// <summary>
    /// Reads backwards from the end to the last step line: step lines are appended in order, so
    /// the last one holds the highest step, and a long file costs no more than its tail.
    /// </summary>
    private long LastStepLine()
    {
        using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var end = stream.Length;
        byte[] carried = []; // the start of a line whose beginning lies in the chunk before
        while (end > 0)
        {
            var size = (int)Math.Min(ChunkBytes, end);
            end -= size;
            var chunk = new byte[size + carried.Length];
            stream.Position = end;
            stream.ReadExactly(chunk, 0, size);
            carried.CopyTo(chunk, size);
            var lineEnd = chunk.Length;
            for (var i = chunk.Length - 1; i >= 0; i--)
            {
                if (chunk[i] != (byte)'\n') continue;
                if (StepOf(chunk.AsSpan(i + 1, lineEnd - i - 1)) is { } step) return step;
                lineEnd = i;
            }
            if (end == 0) return StepOf(chunk.AsSpan(0, lineEnd)) ?? 0;
            carried = chunk[..lineEnd];
        }
        return 0;
    }

    private long? StepOf(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty) return null;
        try
        {
            using var record = JsonDocument.Parse(line.ToArray());
            return _isStepLine(record.RootElement) && record.RootElement.TryGetProperty("step", out var step) ? step.GetInt64() : null;
        }
        catch (JsonException)
        {
            return null; // a line cut short by a kill
        }
    }

    public void Dispose() => _file.Dispose();
}
