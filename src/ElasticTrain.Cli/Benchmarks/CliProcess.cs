using System.Diagnostics;

namespace ElasticTrain.Cli.Benchmarks;

/// <summary>
/// Another <c>elastictrain</c> process started the way this one was (the apphost, or
/// <c>dotnet elastictrain.dll</c>), with its standard streams redirected; in a network namespace
/// when one is named (<c>ip netns exec</c>, which becomes the process itself). Disposing kills it.
/// </summary>
public sealed class CliProcess : IDisposable
{
    private readonly Process _process;

    private CliProcess(Process process) => _process = process;

    public static CliProcess Start(IEnumerable<string> args, bool redirectInput = false, string? networkNamespace = null)
    {
        var self = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        var command = Path.GetFileNameWithoutExtension(self) == "elastictrain"
            ? [self]
            : new[] { Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet", typeof(CliApp).Assembly.Location };
        if (networkNamespace is not null) command = ["ip", "netns", "exec", networkNamespace, .. command];
        info.FileName = command[0];
        foreach (var arg in command.Skip(1)) info.ArgumentList.Add(arg);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return new CliProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start elastictrain"));
    }

    public StreamReader Output => _process.StandardOutput;

    public StreamReader Error => _process.StandardError;

    public StreamWriter Input => _process.StandardInput;

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    /// <summary>
    /// The next line of its standard output; when the output ended first, a
    /// <see cref="BenchmarkException"/> with the first line the process wrote to standard error.
    /// </summary>
    public async Task<string> ReadLineAsync(CancellationToken cancellation)
    {
        var line = await Output.ReadLineAsync(cancellation);
        if (line is not null) return line;
        var error = (await Error.ReadToEndAsync(cancellation)).Trim();
        throw new BenchmarkException($"a worker process ended early{(error.Length > 0 ? ": " + error.Split('\n')[0] : "")}",
            error.Length > 0 ? error : null);
    }

    /// <summary>The value of the next line of output, which must read <c>name value</c>.</summary>
    public async Task<string> ReadFieldAsync(string name, CancellationToken cancellation)
    {
        var line = await ReadLineAsync(cancellation);
        var prefix = name + " ";
        if (!line.StartsWith(prefix, StringComparison.Ordinal)) throw new BenchmarkException($"unexpected worker output '{line}'");
        return line[prefix.Length..];
    }

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
