using System.Numerics.Tensors;
using ElasticTrain.Collectives;
using ElasticTrain.Training;

namespace ElasticTrain.Ranks.Compression;

/// <summary>
/// A top-k job's source of Adam's second moment (<see cref="SecondMomentRefresh"/>). Each rank
/// keeps exponential averages (Adam's beta2) of its own mean gradient g (its slice's sum times
/// <see cref="ScaleOwnGradient"/>) and of its square, per bucket, taken in every step from the
/// first. On a refresh step the ranks all-reduce, each from its bias-corrected averages (divided by
/// 1 - beta2^steps it took in), v/W + (1 - 1/W)·m², and the mean, times Adam's bias at the step,
/// becomes every rank's second moment (<see cref="TakeRefreshed"/>). Why not the mean of v alone:
/// a rank's own gradient is of 1/W of the step's samples, so its noise is W times that of the
/// step's mean gradient, whose second moment Adam keeps; E[g²] = μ² + Wσ² against μ² + σ² for
/// the mean, and v/W + (1 - 1/W)·m² estimates the latter. The plain mean of v, W times too large
/// in the noise, ran the sparse steps at about 1/√W of the learning rate (+3.7% final loss
/// against +1.7% on the convergence run of docs/PERFORMANCE.md).
/// </summary>
/// <remarks>
/// Rank state like the error-feedback residuals (<see cref="Residuals{TState}"/>): staged by a
/// step's exchange and held once it commits, kept across generations while the rank keeps its
/// model part, started afresh (no steps taken in) when the part is rebuilt. Not handed over on a
/// re-plan and not in checkpoints: a rank that joins starts its average anew, and the bias
/// correction makes that a noisier estimate, not a smaller one. Costs a pass over each bucket per
/// step and one dense all-reduce of it per refresh.
/// </remarks>
public sealed class OwnSecondMoments(ICollective collective, SecondMomentRefresh schedule, double beta2)
{
    /// <summary>A bucket's averages of the rank's own gradient and of its squares, and how many steps they took in.</summary>
    public sealed record Moment(float[] Mean, float[] Values, long Steps);

    /// <summary>Added to a bucket's index for its refresh's all-reduce, apart from its gradient's exchange.</summary>
    private const int RefreshRound = 1 << 25;

    private readonly Residuals<Moment> _moments = new();
    private readonly BucketArrays _means = new(), _values = new();
    private float[] _squares = [];
    private float _scale = 1;
    private float[]? _refreshed;
    private long _refreshedStep = -1;

    public SecondMomentRefresh Schedule => schedule;

    /// <summary>What turns the rank's gradient sums of the coming step into its own mean gradient: 1 / (its samples · the loss scale).</summary>
    public void ScaleOwnGradient(float scale) => _scale = scale;

    /// <summary>Takes the rank's gradient sum of <paramref name="bucket"/> into its average (staged until the step commits); returns the new average.</summary>
    public Moment Take(Memory<float> buffer, GradientBucket bucket)
    {
        var gradient = buffer.Span.Slice(bucket.Offset, bucket.Count);
        var held = _moments.Held(buffer, bucket);
        var (mean, next) = (_means.Beside(bucket, held?.Mean), _values.Beside(bucket, held?.Values));
        // m = beta2·m + (1 - beta2)·g, and v = beta2·v + (1 - beta2)·g², as Adam keeps its second moment.
        if (held is null)
        {
            Array.Clear(mean);
            Array.Clear(next);
        }
        else
        {
            TensorPrimitives.Multiply(held.Mean, (float)beta2, mean);
            TensorPrimitives.Multiply(held.Values, (float)beta2, next);
        }
        if (_squares.Length < bucket.Count) _squares = new float[bucket.Count];
        var own = _squares.AsSpan(0, bucket.Count);
        TensorPrimitives.Multiply(gradient, _scale, own);
        TensorPrimitives.MultiplyAdd(own, (float)(1 - beta2), mean, mean);
        TensorPrimitives.Multiply(own, own, own);
        TensorPrimitives.MultiplyAdd(own, (float)(1 - beta2), next, next);
        var moment = new Moment(mean, next, (held?.Steps ?? 0) + 1);
        _moments.Stage(bucket, moment);
        return moment;
    }

    /// <summary>
    /// Step <paramref name="group"/>.Step refreshes: the ranks' mean of their bias-corrected
    /// averages of <paramref name="bucket"/>, times Adam's bias at the step (so that Adam, dividing
    /// by it, reads the mean), goes into the step's refreshed second moment.
    /// </summary>
    public void Refresh(Memory<float> buffer, GradientBucket bucket, Moment own, ExchangeGroup group, CancellationToken cancellation)
    {
        // Each rank's part of the step's mean gradient's second moment: a rank's own gradient, of 1/W
        // of the samples, has W times the noise, so its v/W plus (1 - 1/W) of its mean's square.
        int w = group.Size;
        var bias = (float)(1 / (1 - Math.Pow(beta2, own.Steps)));
        var corrected = new float[bucket.Count];
        TensorPrimitives.Multiply(own.Mean, bias, corrected);
        TensorPrimitives.Multiply(corrected, corrected, corrected);
        TensorPrimitives.Multiply(corrected, (float)(1 - 1.0 / w), corrected);
        TensorPrimitives.MultiplyAdd(own.Values, bias / w, corrected, corrected);
        if (w > 1) collective.AllReduceSum(corrected, group, bucket.Index + RefreshRound, cancellation);
        if (_refreshedStep != group.Step)
        {
            _refreshed = new float[buffer.Length];
            _refreshedStep = group.Step;
        }
        TensorPrimitives.Multiply(corrected, (float)((1 - Math.Pow(beta2, group.Step)) / w), _refreshed!.AsSpan(bucket.Offset, bucket.Count));
    }

    /// <summary>The second moment step <paramref name="step"/> refreshed, laid out as the gradient buffer; null when it did not. Call when the exchange is idle.</summary>
    public float[]? TakeRefreshed(long step) => _refreshedStep == step ? _refreshed : null;

    /// <summary>The step is committed: the averages its exchange staged become the rank's.</summary>
    public void Commit() => _moments.Commit();
}
