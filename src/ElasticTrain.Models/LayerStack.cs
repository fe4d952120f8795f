using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ElasticTrain.Models;

/// <summary>
/// The forward pass of a contiguous run of layers, and its backward stages: shared by the whole
/// models and by <see cref="ModelStage"/>, so that a stage computes exactly what the same layers
/// compute inside the whole model.
/// </summary>
internal static class LayerStack
{
    /// <summary>
    /// Runs <paramref name="layers"/> in order, with <paramref name="masks"/>' dropout (none when null). With <paramref name="report"/>, marks the input of
    /// every backward group but the run's earliest so that backward calls it with the group's index
    /// in <see cref="BackwardStages"/> once that group's gradients are final; the earliest group
    /// ends only when backward returns, so it has nothing to mark.
    /// </summary>
    public static Tensor Forward(IReadOnlyList<ModelLayer> layers, Tensor input, SampleMasks? masks, Action<int>? report)
    {
        // Intermediates die with this scope; autograd keeps its own references to what backward needs.
        using var scope = NewDisposeScope();
        var x = input;
        int groupsAfter = layers.Sum(l => l.BackwardGroupCount);
        for (int k = 0; k < layers.Count; k++)
        {
            var layer = layers[k];
            groupsAfter -= layer.BackwardGroupCount;
            if (report is null)
            {
                x = layer.Forward(x, masks, null);
                continue;
            }
            // Backward numbers groups from the output: this layer's groups follow those of every later layer.
            int first = groupsAfter;
            if (k > 0)
            {
                int earliest = first + layer.BackwardGroupCount - 1;
                x = GradientBoundary.Mark(x, () => report(earliest));
            }
            x = layer.Forward(x, masks, (group, t) => GradientBoundary.Mark(t, () => report(first + group)));
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Every parameter of <paramref name="layers"/> once, grouped in the order backward finishes them: the last layer's first.</summary>
    public static IReadOnlyList<IReadOnlyList<Parameter>> BackwardStages(IReadOnlyList<ModelLayer> layers) =>
        [.. layers.Reverse().SelectMany(l => l.BackwardGroups())];
}
