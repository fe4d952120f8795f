using System.Text;
using System.Xml;

namespace ElasticTrain.Data;

/// <summary>
/// Turns C# XML documentation files into plain prose: one line per &lt;member&gt;, holding
/// the text of its summary, remarks, params, returns and so on with whitespace collapsed to
/// single spaces. Self-closing references keep the word a reader would see:
/// &lt;see cref="T:System.String"/&gt; becomes "String", &lt;paramref name="x"/&gt; "x",
/// &lt;see langword="null"/&gt; "null". A streaming XmlReader keeps memory flat and runs at
/// tens of MB per second; the output depends only on the input bytes, never on culture or
/// runtime version (whitespace is the four XML whitespace characters, not char.IsWhiteSpace).
/// </summary>
internal static class DocXmlText
{
    // Elements that sit inside a sentence: no word break at their edges, so
    // "<c>null</c>." stays "null." rather than "null .".
    private static readonly HashSet<string> Inline = new(StringComparer.Ordinal)
    {
        "see", "paramref", "typeparamref", "c", "i", "b", "em", "strong", "a", "u", "sub", "sup", "span", "tt",
    };

    private static readonly System.Buffers.SearchValues<char> XmlWhitespace = System.Buffers.SearchValues.Create(" \t\n\r");

    private static readonly XmlReaderSettings Settings = new()
    {
        DtdProcessing = DtdProcessing.Ignore,
        XmlResolver = null,
        IgnoreComments = true,
        IgnoreProcessingInstructions = true,
        IgnoreWhitespace = false,
        CloseInput = true,
    };

    /// <summary>Appends the text of every member in <paramref name="xmlFile"/> to <paramref name="output"/>, one line each.</summary>
    public static void AppendMembers(string xmlFile, StringBuilder output)
    {
        var line = new LineBuilder(new StringBuilder(512));
        using var stream = new FileStream(xmlFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using var reader = XmlReader.Create(stream, Settings);

        // For each open element inside a member: the word to emit if it turns out to hold no
        // text (a cref/name/langword fallback), and the line length when it opened.
        var open = new Stack<(string? Fallback, int LengthAtStart)>();
        bool inMember = false;
        while (reader.Read())
        {
            switch (reader.NodeType)
            {
                case XmlNodeType.Element when reader.LocalName == "member":
                    if (reader.IsEmptyElement)
                    {
                        continue;
                    }

                    inMember = true;
                    line.Clear();
                    open.Clear();
                    break;

                case XmlNodeType.EndElement when inMember && reader.LocalName == "member":
                    inMember = false;
                    if (line.Length > 0)
                    {
                        output.Append(line.Text).Append('\n');
                    }

                    break;

                case XmlNodeType.Element when inMember:
                {
                    bool inline = Inline.Contains(reader.LocalName);
                    string? fallback = FallbackWord(reader);
                    if (!inline)
                    {
                        line.Break();
                    }

                    if (reader.IsEmptyElement)
                    {
                        if (fallback is not null)
                        {
                            line.Append(fallback);
                        }

                        if (!inline)
                        {
                            line.Break();
                        }
                    }
                    else
                    {
                        open.Push((fallback, line.Length));
                    }

                    break;
                }

                case XmlNodeType.EndElement when inMember:
                {
                    if (open.TryPop(out var element) && element.Fallback is not null && line.Length == element.LengthAtStart)
                    {
                        line.Append(element.Fallback);
                    }

                    if (!Inline.Contains(reader.LocalName))
                    {
                        line.Break();
                    }

                    break;
                }

                case XmlNodeType.Text or XmlNodeType.CDATA or XmlNodeType.Whitespace or XmlNodeType.SignificantWhitespace when inMember:
                    line.Append(reader.Value);
                    break;
            }
        }
    }

    /// <summary>The word an element stands for when it has no text of its own.</summary>
    private static string? FallbackWord(XmlReader reader)
    {
        string? langword = reader.GetAttribute("langword");
        if (!string.IsNullOrEmpty(langword))
        {
            return langword;
        }

        string? cref = reader.GetAttribute("cref");
        if (!string.IsNullOrEmpty(cref))
        {
            return ShortName(cref);
        }

        if (reader.LocalName is "paramref" or "typeparamref")
        {
            string? name = reader.GetAttribute("name");
            return string.IsNullOrEmpty(name) ? null : name;
        }

        string? href = reader.GetAttribute("href");
        return string.IsNullOrEmpty(href) ? null : href;
    }

    /// <summary>
    /// "T:System.String" -> "String"; "M:System.String.Concat(System.Object)" -> "Concat";
    /// "T:System.Collections.Generic.List`1" -> "List"; "M:System.Uri.#ctor(System.String)" -> "Uri".
    /// </summary>
    internal static string ShortName(string cref)
    {
        ReadOnlySpan<char> name = cref.AsSpan();
        int colon = name.IndexOf(':');
        if (colon >= 0 && colon <= 1)
        {
            name = name[(colon + 1)..];
        }

        int parameters = name.IndexOf('(');
        if (parameters >= 0)
        {
            name = name[..parameters];
        }

        string[] parts = name.ToString().Split('.');
        string last = parts[^1];
        if (last.StartsWith('#') && parts.Length > 1)
        {
            // #ctor, #cctor: a constructor reads best as the type it constructs.
            last = parts[^2];
        }

        int arity = last.IndexOf('`', StringComparison.Ordinal);
        if (arity > 0)
        {
            last = last[..arity];
        }

        return last.Length > 0 ? last : cref;
    }

    /// <summary>One member's line, with whitespace runs collapsed as they arrive.</summary>
    private readonly struct LineBuilder(StringBuilder text)
    {
        // A pending space is recorded as a trailing ' ' and trimmed before the line is used;
        // that keeps the struct stateless beyond its builder.
        public StringBuilder Text => TrimEnd();

        public int Length => text.Length > 0 && text[^1] == ' ' ? text.Length - 1 : text.Length;

        public void Clear() => text.Clear();

        /// <summary>A word boundary: at most one space, never at the start of the line.</summary>
        public void Break()
        {
            if (text.Length > 0 && text[^1] != ' ')
            {
                text.Append(' ');
            }
        }

        public void Append(string value)
        {
            // Whole runs of non-space characters at a time: this loop sees every character
            // of the corpus, and span appends are several times faster than char appends.
            ReadOnlySpan<char> rest = value;
            while (!rest.IsEmpty)
            {
                int space = rest.IndexOfAny(XmlWhitespace);
                if (space < 0)
                {
                    text.Append(rest);
                    return;
                }

                text.Append(rest[..space]);
                Break();
                rest = rest[(space + 1)..];
            }
        }

        private StringBuilder TrimEnd()
        {
            if (text.Length > 0 && text[^1] == ' ')
            {
                text.Length--;
            }

            return text;
        }
    }
}
