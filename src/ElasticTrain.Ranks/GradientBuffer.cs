using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace ElasticTrain.Ranks;

/// <summary>
/// The model's gradients laid end to end in one float array, the unit the collective exchanges.
/// Allocated once per replica (it is on the large-object heap: reallocating per step would churn it).
/// </summary>
public sealed class GradientBuffer
{
    private readonly IReadOnlyList<Tensor> _parameters;
    private readonly long[] _offsets;

    public GradientBuffer(IReadOnlyList<Tensor> parameters)
    {
        _parameters = parameters;
        _offsets = new long[parameters.Count + 1];
        for (int i = 0; i < parameters.Count; i++) _offsets[i + 1] = _offsets[i] + parameters[i].numel();
        Values = new float[checked((int)_offsets[^1])];
    }

    public float[] Values { get; }

    /// <summary>Copies every parameter's gradient into <see cref="Values"/> (zeros where a parameter got none).</summary>
    public void Gather()
    {
        for (int i = 0; i < _parameters.Count; i++)
        {
            var target = Values.AsSpan((int)_offsets[i], (int)(_offsets[i + 1] - _offsets[i]));
            using var grad = _parameters[i].grad;
            if (grad is null) { target.Clear(); continue; }
            using var host = grad.device_type == DeviceType.CPU && grad.is_contiguous() ? grad.alias() : grad.contiguous().cpu();
            MemoryMarshal.Cast<byte, float>(host.bytes).CopyTo(target);
        }
    }

    /// <summary>Writes <see cref="Values"/> times <paramref name="scale"/> back into the gradients.</summary>
    public void Scatter(float scale)
    {
        System.Numerics.Tensors.TensorPrimitives.Multiply(Values, scale, Values);
        for (int i = 0; i < _parameters.Count; i++)
        {
            var source = Values.AsSpan((int)_offsets[i], (int)(_offsets[i + 1] - _offsets[i]));
            // A parameter without a gradient has none on any rank (same graph everywhere); the optimizer skips it.
            using var grad = _parameters[i].grad;
            if (grad is null) continue;
            if (grad.device_type == DeviceType.CPU && grad.is_contiguous())
            {
                source.CopyTo(MemoryMarshal.Cast<byte, float>(grad.bytes));
            }
            else
            {
                using var staging = empty(grad.shape, ScalarType.Float32);
                source.CopyTo(MemoryMarshal.Cast<byte, float>(staging.bytes));
                grad.copy_(staging);
            }
        }
    }
}
