using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// The model's gradients laid end to end in one float array, in the order backward finishes them,
/// cut into the buckets the collective exchanges. Allocated once per replica (it is on the
/// large-object heap: reallocating per step would churn it).
/// </summary>
public sealed class GradientBuffer
{
    private readonly IReadOnlyList<Parameter> _parameters;
    private readonly int[] _offsets;
    private readonly Dictionary<IntPtr, int> _indexOf; // by parameter handle: its place in buffer order

    /// <param name="stages">Parameters grouped by backward stage (see <c>IReportsBackwardProgress</c>).</param>
    /// <param name="bucketValues">Bucket capacity in values; 0 for one bucket.</param>
    public GradientBuffer(IReadOnlyList<IReadOnlyList<Parameter>> stages, long bucketValues)
    {
        _parameters = stages.SelectMany(s => s).ToList();
        var stageOf = stages.SelectMany((s, i) => s.Select(_ => i)).ToList();
        _offsets = new int[_parameters.Count + 1];
        for (int i = 0; i < _parameters.Count; i++) _offsets[i + 1] = checked(_offsets[i] + (int)_parameters[i].numel());
        Values = new float[_offsets[^1]];
        _indexOf = _parameters.Select((p, i) => (p.Handle, i)).ToDictionary(x => x.Handle, x => x.i);
        var shapes = _parameters.Select(p => p.shape).ToList();
        Buckets = [.. GradientBucket.Plan(_parameters.Select(p => (int)p.numel()).ToList(), stageOf, bucketValues)
            .Select(b => b with { Shapes = shapes[b.FirstParameter..b.EndParameter] })];
    }

    public float[] Values { get; }

    /// <summary>The parameters in buffer order.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Where parameter <paramref name="index"/> (in buffer order) lies in <see cref="Values"/>.</summary>
    public (int Offset, int Count) RangeOf(int index) => (_offsets[index], _offsets[index + 1] - _offsets[index]);

    /// <summary>The summed gradient of <paramref name="parameter"/>, one of <see cref="Parameters"/>.</summary>
    public ReadOnlySpan<float> SumsOf(Parameter parameter)
    {
        var (offset, count) = RangeOf(_indexOf[parameter.Handle]);
        return Values.AsSpan(offset, count);
    }

    public IReadOnlyList<GradientBucket> Buckets { get; }

    /// <summary>Copies the bucket's gradients into <see cref="Values"/> (zeros where a parameter got none).</summary>
    public void Gather(GradientBucket bucket)
    {
        for (int i = bucket.FirstParameter; i < bucket.EndParameter; i++)
        {
            var target = Values.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]);
            using var grad = _parameters[i].grad;
            if (grad is null) { target.Clear(); continue; }
            using var host = grad.device_type == DeviceType.CPU && grad.is_contiguous() ? grad.alias() : grad.contiguous().cpu();
            MemoryMarshal.Cast<byte, float>(host.bytes).CopyTo(target);
        }
    }

    /// <summary>
    /// Each parameter's sums times <paramref name="scale"/>, the float32 products <see cref="Scatter"/>
    /// writes, by <paramref name="names"/> (given in buffer order); empty for a parameter without a
    /// gradient. After a step, with the step's factor: the mean gradient it applied.
    /// </summary>
    public IReadOnlyDictionary<string, float[]> Scaled(IReadOnlyList<string> names, float scale)
    {
        var scaled = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int i = 0; i < _parameters.Count; i++)
        {
            using var grad = _parameters[i].grad;
            var values = new float[grad is null ? 0 : _offsets[i + 1] - _offsets[i]];
            TensorPrimitives.Multiply(Values.AsSpan(_offsets[i], values.Length), scale, values);
            scaled[names[i]] = values;
        }
        return scaled;
    }

    /// <summary>
    /// Writes <see cref="Values"/> times <paramref name="scale"/> into the gradients, scaling as it
    /// copies (one pass, not two); <see cref="Values"/> keeps the sums.
    /// </summary>
    public void Scatter(float scale)
    {
        for (int i = 0; i < _parameters.Count; i++)
        {
            var source = Values.AsSpan(_offsets[i], _offsets[i + 1] - _offsets[i]);
            // A parameter without a gradient has none on any rank (same graph everywhere); the optimizer skips it.
            using var grad = _parameters[i].grad;
            if (grad is null) continue;
            if (grad.device_type == DeviceType.CPU && grad.is_contiguous())
            {
                TensorPrimitives.Multiply(source, scale, MemoryMarshal.Cast<byte, float>(grad.bytes));
            }
            else
            {
                using var staging = empty(grad.shape, ScalarType.Float32);
                TensorPrimitives.Multiply(source, scale, MemoryMarshal.Cast<byte, float>(staging.bytes));
                grad.copy_(staging);
            }
        }
    }
}
