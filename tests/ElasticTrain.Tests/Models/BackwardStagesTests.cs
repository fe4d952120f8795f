using ElasticTrain.Models;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

/// <summary>
/// Overlapping the exchange with backward rests on one claim: when the GPT reports a backward
/// stage done, the gradients of that stage's parameters are final. Checked against the gradients
/// backward leaves at its end.
/// </summary>
public class BackwardStagesTests
{
    [Fact]
    public void Each_reported_stage_holds_its_final_gradients_and_stages_come_in_order()
    {
        const int layers = 3;
        using var model = ModelFactory.Create(ModelSpec.ForGpt(layers, heads: 2, width: 16, block: 8), seed: 3);
        var gpt = Assert.IsType<Gpt>(model);
        var stages = gpt.BackwardStages();
        Assert.Equal(2 * layers + 2, stages.Count);
        Assert.Equal(model.parameters().Count(), stages.Sum(s => s.Count));

        // Two backward passes: the second accumulates into existing gradients, as after zero_grad.
        for (int pass = 0; pass < 2; pass++)
        {
            var seen = new List<(int Stage, float[][] Gradients)>();
            gpt.StageCompleted = stage => seen.Add((stage, stages[stage].Select(p => p.grad!.data<float>().ToArray()).ToArray()));
            using (var idx = RandomTokens(seed: pass, batch: 4, time: 8))
            using (var loss = model.call(idx).square().mean())
                loss.backward();
            gpt.StageCompleted = null;

            Assert.Equal(Enumerable.Range(0, 2 * layers + 1), seen.Select(s => s.Stage));
            foreach (var (stage, gradients) in seen)
                for (int i = 0; i < gradients.Length; i++)
                    Assert.Equal(stages[stage][i].grad!.data<float>().ToArray(), gradients[i]);
        }
    }

    [Fact]
    public void Without_a_listener_or_without_grad_the_forward_pass_is_unchanged()
    {
        using var model = ModelFactory.Create(ModelSpec.ForGpt(2, heads: 2, width: 16, block: 8), seed: 3);
        var gpt = (Gpt)model;
        using var idx = RandomTokens(seed: 1, batch: 2, time: 8);
        using var plain = model.call(idx);
        int calls = 0;
        gpt.StageCompleted = _ => calls++;
        using (no_grad())
        using (var marked = model.call(idx))
            Assert.True(plain.allclose(marked, rtol: 0, atol: 0));
        Assert.Equal(0, calls);
    }
}
