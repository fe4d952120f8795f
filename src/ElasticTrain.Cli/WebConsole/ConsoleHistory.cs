using ElasticTrain.Coordination;
using ElasticTrain.Jobs;

namespace ElasticTrain.Cli.WebConsole;

/// <summary>
/// What a node has seen of the job, for the console: the committed steps, the generation changes
/// marked on the curve, evaluations, checkpoints and the end. Nodes merge each other's histories,
/// so a node that starts late, or serves the page after the coordinator's node died, still shows
/// the whole curve. The steps are kept to <see cref="MaxSteps"/>: past that, every other step of
/// the older half is dropped, so a long job's curve keeps its shape at bounded memory.
/// </summary>
public sealed class ConsoleHistory(int maxSteps = ConsoleHistory.MaxSteps)
{
    public const int MaxSteps = 4000;

    private readonly SortedList<long, StepNews> _steps = [];
    private readonly SortedList<long, MarkedGeneration> _marks = [];
    private readonly SortedList<long, EvaluationNews> _evaluations = [];
    private readonly SortedList<long, CheckpointNews> _checkpoints = [];

    /// <summary>Generations marked without the one before them (this node joined late): another node's mark of them says more.</summary>
    private readonly HashSet<long> _unsure = [];
    private string _jobId = "";
    private long _totalSteps;
    private JobEndNews? _end;

    public IReadOnlyList<StepNews> Steps => [.. _steps.Values];

    /// <summary>The last generation's members: who a new generation is compared with.</summary>
    private RankId[]? LastMembers => _marks.Count > 0 ? _marks.Values[^1].Members : null;

    /// <summary>Takes one piece of news; returns what the console shows of it, or null when it adds nothing.</summary>
    public object? Apply(IJobNews news)
    {
        switch (news)
        {
            case StepNews step:
                _steps[step.Step] = step;
                Thin();
                return step;
            case GenerationNews generation:
                if (_marks.ContainsKey(generation.Generation)) return null;
                _jobId = generation.JobId;
                _totalSteps = generation.TotalSteps;
                // Compared with the last generation this node has: a node that joined late, with none
                // yet, marks it as a start, and another node's mark of it wins when histories merge.
                var before = LastMembers;
                var text = GenerationChange.Describe(before, generation.Members, (generation.Drained ?? []).ToHashSet(), generation.Idle, generation.ResumedFrom);
                if (before is null && generation.Generation > 1) _unsure.Add(generation.Generation);
                var mark = new MarkedGeneration(generation.Generation, generation.FromStep, generation.Members.Length, generation.Mesh, generation.Members, text, generation.Stages);
                _marks[mark.Generation] = mark;
                return mark;
            case EvaluationNews evaluation:
                _evaluations[evaluation.Step] = evaluation;
                return evaluation;
            case CheckpointNews checkpoint:
                _checkpoints[checkpoint.Step] = checkpoint;
                return checkpoint;
            case JobEndNews end:
                _end = end;
                return end;
            default:
                return null;
        }
    }

    /// <summary>Adds what another node has seen; what both saw stays as this node has it.</summary>
    public void Merge(JobHistory other)
    {
        if (_jobId.Length == 0) (_jobId, _totalSteps) = (other.JobId, other.TotalSteps);
        foreach (var step in other.Steps) _steps.TryAdd(step.Step, step);
        foreach (var mark in other.Marks)
            if (_marks.TryAdd(mark.Generation, mark) || _unsure.Remove(mark.Generation)) _marks[mark.Generation] = mark;
        foreach (var evaluation in other.Evaluations) _evaluations.TryAdd(evaluation.Step, evaluation);
        foreach (var checkpoint in other.Checkpoints) _checkpoints.TryAdd(checkpoint.Step, checkpoint);
        _end ??= other.End;
        Thin();
    }

    public JobHistory ToRecord() =>
        new(_jobId, _totalSteps, [.. _steps.Values], [.. _marks.Values], [.. _evaluations.Values], [.. _checkpoints.Values], _end);

    private void Thin()
    {
        if (_steps.Count <= maxSteps) return;
        // Every other step of the older half; the recent half stays whole.
        var older = _steps.Keys.Take(_steps.Count / 2).Where((_, i) => i % 2 == 1).ToList();
        foreach (var step in older) _steps.Remove(step);
    }
}
