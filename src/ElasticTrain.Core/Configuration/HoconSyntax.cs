namespace ElasticTrain.Configuration;

/// <summary>
/// A well-formedness check run before Akka's HOCON parser, which accepts truncated input without a
/// word (<c>a { b</c>, <c>x = [1, 2</c> and <c>a = }</c> all parse). A user whose file lost its
/// closing brace must hear so, not have half their settings silently ignored. It checks what that
/// parser lets through: bracket balance, closed strings, and a value after every separator.
/// </summary>
public static class HoconSyntax
{
    /// <summary>Throws <see cref="SettingsException"/> naming <paramref name="what"/> and the line of the first problem.</summary>
    public static void Check(string text, string what)
    {
        var open = new Stack<(char Bracket, int Line)>();
        int line = 1;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\n') { line++; continue; }
            if (c == '#' || (c == '/' && Next(text, i) == '/'))
            {
                while (i + 1 < text.Length && text[i + 1] != '\n') i++;
                continue;
            }
            if (c == '"')
            {
                i = SkipString(text, i, ref line, what);
                continue;
            }
            if (c is '{' or '[') { open.Push((c, line)); continue; }
            if (c is '}' or ']')
            {
                char expected = c == '}' ? '{' : '[';
                if (open.Count == 0 || open.Peek().Bracket != expected)
                    throw Error(what, line, $"unexpected '{c}'");
                open.Pop();
                continue;
            }
            if (c == '=' || (c == ':' && !PartOfUnquotedValue(text, i)))
            {
                int j = i + 1;
                while (j < text.Length && char.IsWhiteSpace(text[j])) j++;
                if (j == text.Length || text[j] is '}' or ']' or ',')
                    throw Error(what, line, $"'{c}' has no value after it");
            }
        }
        if (open.Count > 0)
        {
            var (bracket, at) = open.Peek();
            throw Error(what, at, $"'{bracket}' is never closed");
        }
    }

    private static char Next(string text, int i) => i + 1 < text.Length ? text[i + 1] : '\0';

    // "host:port" or "akka.tcp://x" inside an unquoted value: a colon with no space after it that
    // follows a value character is not a key separator.
    private static bool PartOfUnquotedValue(string text, int i) =>
        i > 0 && !char.IsWhiteSpace(text[i - 1]) && text[i - 1] != '"' && i + 1 < text.Length && text[i + 1] is not (' ' or '\t' or '\n' or '\r');

    private static int SkipString(string text, int start, ref int line, string what)
    {
        int startLine = line;
        if (string.CompareOrdinal(text, start, "\"\"\"", 0, 3) == 0)
        {
            int end = text.IndexOf("\"\"\"", start + 3, StringComparison.Ordinal);
            if (end < 0) throw Error(what, startLine, "a \"\"\" string is never closed");
            line += text.AsSpan(start, end - start).Count('\n');
            return end + 2;
        }
        for (int i = start + 1; i < text.Length; i++)
        {
            if (text[i] == '\\') { i++; continue; }
            if (text[i] == '"') return i;
            if (text[i] == '\n') break;
        }
        throw Error(what, startLine, "a quoted string is never closed");
    }

    private static SettingsException Error(string what, int line, string problem) =>
        new($"{what} is not valid HOCON: line {line}: {problem}");
}
