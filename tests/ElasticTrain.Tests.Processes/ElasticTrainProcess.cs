using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace ElasticTrain.Tests.Processes;

/// <summary>An <c>elastictrain</c> process started with <c>dotnet elastictrain.dll</c>, its output collected.</summary>
public sealed class ElasticTrainProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private bool _paused;

    private ElasticTrainProcess(Process process) => _process = process;

    /// <summary>The CLI as built beside this test assembly (the project reference copies it here).</summary>
    public static string Executable => Path.Combine(AppContext.BaseDirectory, "elastictrain.dll");

    public static ElasticTrainProcess Start(params string[] args) => StartIn(null, args);

    /// <summary>Starts it inside a network namespace (<c>ip netns exec</c>, which becomes the process itself), or here when null.</summary>
    public static ElasticTrainProcess StartIn(string? networkNamespace, params string[] args)
    {
        var info = new ProcessStartInfo(networkNamespace is null ? "dotnet" : "ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (networkNamespace is not null) foreach (var arg in (string[])["netns", "exec", networkNamespace, "dotnet"]) info.ArgumentList.Add(arg);
        info.ArgumentList.Add(Executable);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info };
        var wrapper = new ElasticTrainProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (wrapper._output) wrapper._output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (wrapper._output) wrapper._output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public async Task<int> WaitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"still running after {timeout.TotalSeconds:0} s; its output so far:\n{Output}");
        }
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no shutdown hook, no flush, no goodbye; what a power cut or the OOM killer does.</summary>
    public void KillHard()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGSTOP: the process keeps its sockets and its state but does nothing, as in a long GC pause or a frozen VM.</summary>
    public void Pause() { Signal(19); _paused = true; }

    /// <summary>SIGCONT: it goes on where it stopped, unaware of the time that passed.</summary>
    public void Resume() { Signal(18); _paused = false; }

    private void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public void Dispose()
    {
        if (_paused) Resume();
        if (!_process.HasExited) KillHard();
        _process.Dispose();
    }

    /// <summary>The metrics file's records of one type, tolerating a last line cut off by a kill.</summary>
    public static List<JsonElement> Records(string metrics, string type)
    {
        if (!File.Exists(metrics)) return [];
        var records = new List<JsonElement>();
        using var stream = new FileStream(metrics, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            try
            {
                var record = JsonDocument.Parse(line).RootElement;
                if (record.GetProperty("type").GetString() == type) records.Add(record);
            }
            catch (JsonException) { }
        }
        return records;
    }

    /// <summary>Every step of the metrics file run again after a reload reproduced the loss the journal holds for it (1e-4 relative).</summary>
    public static void AssertReplaysMatchTheJournal(string metrics)
    {
        foreach (var replay in Records(metrics, "replay"))
        {
            var journaled = replay.GetProperty("journaled_loss").GetDouble();
            Assert.True(Math.Abs(replay.GetProperty("loss").GetDouble() - journaled) <= 1e-4 * Math.Abs(journaled), replay.ToString());
        }
    }
}
