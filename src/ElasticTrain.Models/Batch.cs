using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// Turns flat byte windows into the (input, target) tensors of next-byte prediction.
/// </summary>
public static class Batch
{
    /// <summary>
    /// <paramref name="tokens"/> holds <paramref name="samples"/> consecutive windows of
    /// <paramref name="windowLength"/> bytes each (a window is Block + 1 bytes, so that every one of the
    /// Block inputs has a next byte to predict). Returns input = window[0..W-1) and
    /// target = window[1..W), both int64 [samples, W - 1] on the CPU.
    /// </summary>
    public static (Tensor Input, Tensor Target) FromWindows(long[] tokens, int samples, int windowLength)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (samples <= 0)
            throw new ArgumentException($"Samples must be positive, but it is {samples}.", nameof(samples));
        if (windowLength < 2)
            throw new ArgumentException($"A window needs at least 2 bytes (one input, one target), but it is {windowLength}.", nameof(windowLength));
        if (tokens.LongLength != (long)samples * windowLength)
            throw new ArgumentException(
                $"Expected {samples} windows of {windowLength} tokens ({(long)samples * windowLength} in all), got {tokens.LongLength}.", nameof(tokens));

        using var windows = tensor(tokens, [samples, windowLength], ScalarType.Int64);
        // Slices are views of the windows tensor; contiguous copies let it be disposed here.
        using var inputView = windows.narrow(1, 0, windowLength - 1);
        using var targetView = windows.narrow(1, 1, windowLength - 1);
        return (inputView.contiguous().clone(), targetView.contiguous().clone());
    }
}
