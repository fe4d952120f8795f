using System.Text;
using ElasticTrain.Checkpointing;

namespace ElasticTrain.Tests.Checkpointing;

/// <summary>The byte layout of the named state: entries round-trip exactly, and what is not this format is refused by name.</summary>
public class NamedStateTests
{
    private static TensorBytes Tensor(params long[] shape)
    {
        var data = new byte[shape.Aggregate(4L, (a, b) => a * b)];
        new Random(shape.Length).NextBytes(data);
        return new TensorBytes("Float32", shape, data);
    }

    private static readonly NamedState State = new([
        new ParameterState("blocks.0.qkv.weight", Tensor(24, 8), 17, Tensor(24, 8), Tensor(24, 8)),
        new ParameterState("blocks.0.qkv.bias", Tensor(24), 17, Tensor(24), Tensor(24)),
        new ParameterState("scale", Tensor(), 3, Tensor(), Tensor()),
    ]);

    [Fact]
    public void Sections_hold_a_format_marker_and_one_entry_per_parameter_that_read_back_exactly()
    {
        var sections = State.ToSections();
        Assert.Equal(["format", "parameter/blocks.0.qkv.bias", "parameter/blocks.0.qkv.weight", "parameter/scale"], sections.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(NamedState.Format, Encoding.UTF8.GetString(sections["format"]));
        Assert.True(NamedState.IsNamed(sections));

        var read = NamedState.FromSections(sections);
        Assert.Equal(State.Names, read.Names);
        Assert.All(State.Names, n => Assert.True(read[n].SameAs(State[n]), n));
        Assert.Equal(17, read["blocks.0.qkv.weight"].Step);
    }

    [Fact]
    public void An_entry_is_its_step_its_value_then_each_named_slot_each_tensor_dtype_rank_shape_and_bytes()
    {
        var entry = new ParameterState("p", new TensorBytes("Float32", [2], [1, 2, 3, 4, 5, 6, 7, 8]), 5,
            new TensorBytes("Float32", [], [9, 9, 9, 9]), new TensorBytes("Int8", [1], [7])).Encode();
        byte[] expected = [
            5, 0, 0, 0, 0, 0, 0, 0,
            7, .. "Float32"u8, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
            2, 0, 0, 0,
            7, .. "exp_avg"u8,
            7, .. "Float32"u8, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9,
            10, .. "exp_avg_sq"u8,
            4, .. "Int8"u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7,
        ];
        Assert.Equal(expected, entry);
    }

    [Fact]
    public void Format_1_entries_written_before_named_slots_read_as_AdamW_moments()
    {
        byte[] format1 = [
            5, 0, 0, 0, 0, 0, 0, 0,
            7, .. "Float32"u8, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
            7, .. "Float32"u8, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9,
            4, .. "Int8"u8, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7,
        ];
        var sections = new Dictionary<string, byte[]> { ["format"] = Encoding.UTF8.GetBytes("elastictrain.named-state/1"), ["parameter/p"] = format1 };
        var read = NamedState.FromSections(sections)["p"];
        Assert.Equal(5, read.Step);
        Assert.Equal(["exp_avg", "exp_avg_sq"], read.Slots.Select(s => s.Name));
        Assert.Equal([7], read.Slot("exp_avg_sq")!.Data);
        // A stage's selection keeps the format its bytes were written in.
        Assert.Equal("elastictrain.named-state/1", Encoding.UTF8.GetString(NamedState.Select(sections, ["p"])["format"]));
    }

    [Fact]
    public void Parts_written_by_different_stages_merge_by_union_of_their_sections()
    {
        var first = new NamedState([State["blocks.0.qkv.weight"]]).ToSections();
        var second = new NamedState([State["scale"]]).ToSections();
        var merged = first.Concat(second.Where(s => s.Key != NamedState.FormatSection)).ToDictionary();
        Assert.Equal(["blocks.0.qkv.weight", "scale"], NamedState.FromSections(merged).Names);
    }

    [Fact]
    public void A_cut_entry_an_unknown_version_or_the_older_layout_is_refused_with_a_reason()
    {
        var sections = State.ToSections().ToDictionary();
        sections["parameter/scale"] = sections["parameter/scale"][..^2];
        Assert.Contains("parameter 'scale' is damaged", Assert.Throws<CheckpointException>(() => NamedState.FromSections(sections)).Message);

        sections = State.ToSections().ToDictionary();
        sections["format"] = Encoding.UTF8.GetBytes("elastictrain.named-state/3");
        Assert.Contains("'elastictrain.named-state/3'", Assert.Throws<CheckpointException>(() => NamedState.FromSections(sections)).Message);

        var older = new Dictionary<string, byte[]> { ["model"] = [1], ["optimizer"] = [2] };
        Assert.False(NamedState.IsNamed(older));
        Assert.Contains("not in the named-state format", Assert.Throws<CheckpointException>(() => NamedState.FromSections(older)).Message);
    }

    [Fact]
    public void Asking_for_a_name_the_state_does_not_hold_names_it()
    {
        var missing = Assert.Throws<CheckpointException>(() => State["blocks.1.qkv.weight"]);
        Assert.Contains("no parameter 'blocks.1.qkv.weight'", missing.Message);
        Assert.Throws<ArgumentException>(() => new NamedState([State["scale"], State["scale"]]));
    }
}
