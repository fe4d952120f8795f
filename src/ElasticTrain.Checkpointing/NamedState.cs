using System.Text;

namespace ElasticTrain.Checkpointing;

/// <summary>
/// Parameters and their optimizer state, one <see cref="ParameterState"/> per parameter name: what a
/// checkpoint, a stage's part of one, or a transfer between live ranks holds. Any set of names can
/// be taken from one model or stage and given to another that holds them, in any order, so the
/// state does not depend on the mesh that wrote it.
/// </summary>
/// <remarks>
/// As byte sections (what <see cref="CheckpointFile"/> and state transfer carry) it is a
/// <see cref="FormatSection"/> whose bytes are <see cref="Format"/>, plus one section per parameter,
/// <c>parameter/{name}</c>, holding <see cref="ParameterState.Encode"/>. The sections of several
/// stages' parts therefore merge by plain union. State written before this format has sections
/// <c>model</c> and <c>optimizer</c> and no <see cref="FormatSection"/>.
/// </remarks>
public sealed class NamedState
{
    public const string FormatSection = "format";
    /// <summary>What this build writes: any optimizer's slots. Format 1 (AdamW's two moments, fixed) is still read.</summary>
    public const string Format = "elastictrain.named-state/2";
    public const string Format1 = "elastictrain.named-state/1";
    public const string ParameterPrefix = "parameter/";

    private readonly Dictionary<string, ParameterState> _parameters;

    /// <exception cref="ArgumentException">Two entries have the same name.</exception>
    public NamedState(IEnumerable<ParameterState> parameters)
    {
        _parameters = new Dictionary<string, ParameterState>(StringComparer.Ordinal);
        foreach (var parameter in parameters)
            if (!_parameters.TryAdd(parameter.Name, parameter))
                throw new ArgumentException($"parameter '{parameter.Name}' appears twice", nameof(parameters));
    }

    /// <summary>The names held, in ordinal order.</summary>
    public IReadOnlyList<string> Names => [.. _parameters.Keys.Order(StringComparer.Ordinal)];

    public bool Contains(string name) => _parameters.ContainsKey(name);

    /// <exception cref="CheckpointException">No entry has this name; the message names it.</exception>
    public ParameterState this[string name] => _parameters.TryGetValue(name, out var state)
        ? state
        : throw new CheckpointException($"the state holds no parameter '{name}' (it holds {Describe(Names)})");

    /// <summary>Whether <paramref name="sections"/> were written in this format (otherwise they are the older model/optimizer pair).</summary>
    public static bool IsNamed(IReadOnlyDictionary<string, byte[]> sections) => sections.ContainsKey(FormatSection);

    public IReadOnlyDictionary<string, byte[]> ToSections()
    {
        var sections = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [FormatSection] = Encoding.UTF8.GetBytes(Format) };
        foreach (var (name, state) in _parameters)
            sections[ParameterPrefix + name] = state.Encode();
        return sections;
    }

    /// <summary>
    /// The sections of <paramref name="names"/> out of sections in this format, without decoding
    /// them: a stage's share of a whole model's state, kept as bytes, under the format they were written in.
    /// </summary>
    /// <exception cref="CheckpointException">A name the sections do not hold.</exception>
    public static IReadOnlyDictionary<string, byte[]> Select(IReadOnlyDictionary<string, byte[]> sections, IEnumerable<string> names)
    {
        var format = sections.TryGetValue(FormatSection, out var written) ? written : Encoding.UTF8.GetBytes(Format);
        var selected = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [FormatSection] = format };
        foreach (var name in names)
            selected[ParameterPrefix + name] = sections.TryGetValue(ParameterPrefix + name, out var bytes)
                ? bytes
                : throw new CheckpointException($"the state holds no parameter '{name}'");
        return selected;
    }

    /// <summary>Reads sections written by <see cref="ToSections"/>, or a union of such (a stage's parts).</summary>
    /// <exception cref="CheckpointException">Not this format, a later version of it, or a damaged entry.</exception>
    public static NamedState FromSections(IReadOnlyDictionary<string, byte[]> sections)
    {
        if (!sections.TryGetValue(FormatSection, out var format))
            throw new CheckpointException($"the state has no '{FormatSection}' section: it is not in the named-state format");
        var text = Encoding.UTF8.GetString(format);
        var version = text switch
        {
            Format => 2,
            Format1 => 1,
            _ => throw new CheckpointException($"the state's format is '{text}'; this build reads '{Format}' and '{Format1}'"),
        };
        var unknown = sections.Keys.Where(k => k != FormatSection && !k.StartsWith(ParameterPrefix, StringComparison.Ordinal)).ToList();
        if (unknown.Count > 0)
            throw new CheckpointException($"the state has sections this format does not know: {Describe(unknown)}");
        return new NamedState(sections
            .Where(s => s.Key != FormatSection)
            .Select(s => ParameterState.Decode(s.Key[ParameterPrefix.Length..], s.Value, version)));
    }

    /// <summary>A list of names short enough for one line.</summary>
    private static string Describe(IReadOnlyCollection<string> names) =>
        names.Count <= 4 ? $"{names.Count}: {string.Join(", ", names)}" : $"{names.Count}: {string.Join(", ", names.Take(4))}, ...";
}
