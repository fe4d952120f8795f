using System.Diagnostics;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// Another <c>elastictrain</c> process started the way this one was (the apphost, or
/// <c>dotnet elastictrain.dll</c>), with its standard streams redirected. Disposing kills it.
/// </summary>
public sealed class CliProcess : IDisposable
{
    private readonly Process _process;

    private CliProcess(Process process) => _process = process;

    public static CliProcess Start(IEnumerable<string> args, bool redirectInput = false)
    {
        var self = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(self) == "elastictrain")
        {
            info.FileName = self;
        }
        else
        {
            info.FileName = Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
            info.ArgumentList.Add(typeof(CliApp).Assembly.Location);
        }
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return new CliProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start elastictrain"));
    }

    public StreamReader Output => _process.StandardOutput;

    public StreamReader Error => _process.StandardError;

    public StreamWriter Input => _process.StandardInput;

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    public async Task<int> WaitAsync(CancellationToken cancellation)
    {
        await _process.WaitForExitAsync(cancellation);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // exited meanwhile
        _process.Dispose();
    }
}
