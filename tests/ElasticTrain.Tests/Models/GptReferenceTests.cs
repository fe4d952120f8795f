using ElasticTrain.Models;
using TorchSharp;
using static TorchSharp.torch;
using static ElasticTrain.Tests.Models.TestTensors;

namespace ElasticTrain.Tests.Models;

/// <summary>
/// Pins the Gpt's math to the PyTorch reference by recomputing the forward pass from the named
/// parameters with elementary ops: explicit LayerNorm, one head at a time, an explicit tril mask and
/// the erf form of GELU (so a tanh-approximate GELU, a post-LN block or a wrong scale would show).
/// </summary>
public class GptReferenceTests
{
    [Fact]
    public void Forward_matches_an_elementary_transcription_of_the_pytorch_reference()
    {
        var spec = ModelSpec.ForGpt(layers: 2, heads: 2, width: 16, block: 8);
        using var model = ModelFactory.Create(spec, seed: 9);
        using var scope = NewDisposeScope();
        var p = model.named_parameters().ToDictionary(x => x.name, x => (Tensor)x.parameter);
        var idx = RandomTokens(seed: 4, batch: 3, time: 6);
        long b = 3, t = 6, c = spec.Width, h = spec.Heads, hd = c / h;

        Tensor Linear(Tensor x, string n, bool bias = true) =>
            bias ? x.matmul(p[n + ".weight"].t()) + p[n + ".bias"] : x.matmul(p[n + ".weight"].t());
        Tensor LayerNorm(Tensor x, string n)
        {
            var mean = x.mean([-1L], keepdim: true);
            var variance = (x - mean).pow(2).mean([-1L], keepdim: true);
            return (x - mean) / (variance + 1e-5).sqrt() * p[n + ".weight"] + p[n + ".bias"];
        }
        Tensor Gelu(Tensor x) => 0.5 * x * (1 + (x / Math.Sqrt(2)).erf());

        var x = p["tok.weight"].index_select(0, idx.flatten()).view(b, t, c) + p["pos.weight"].narrow(0, 0, t);
        var masked = ones(t, t).tril().eq(0);
        for (var layer = 0; layer < spec.Layers; layer++)
        {
            var n = $"blocks.{layer}.";
            var qkv = Linear(LayerNorm(x, n + "ln1"), n + "qkv");
            var heads = new List<Tensor>();
            for (long head = 0; head < h; head++)
            {
                var q = qkv.narrow(2, head * hd, hd);
                var k = qkv.narrow(2, c + head * hd, hd);
                var v = qkv.narrow(2, 2 * c + head * hd, hd);
                var att = (q.matmul(k.transpose(1, 2)) / Math.Sqrt(hd)).masked_fill(masked, double.NegativeInfinity).softmax(-1);
                heads.Add(att.matmul(v));
            }
            x = x + Linear(cat(heads, 2), n + "proj");
            x = x + Linear(Gelu(Linear(LayerNorm(x, n + "ln2"), n + "fc")), n + "out");
        }
        var expected = Linear(LayerNorm(x, "ln"), "head", bias: false);

        var actual = model.forward(idx);
        Assert.True(MaxAbsDifference(actual, expected) <= 1e-5, $"max difference {MaxAbsDifference(actual, expected)}");
    }
}
