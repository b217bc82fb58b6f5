namespace P2V.Windows.Drivers;

/// <summary>
/// One entry of an INF section: <c>key = value, value …</c>, or just <c>value, value …</c> (a file list, a
/// directive-less line), with %strkey% tokens already replaced from [Strings]. <see cref="Line"/> is where it
/// starts (a continued line spans several).
/// </summary>
public sealed record InfLine(string? Key, IReadOnlyList<string> Values, int Line)
{
    /// <summary>The n-th value, or "" when the line has fewer (INF leaves optional values empty or off).</summary>
    public string Value(int n) => n < Values.Count ? Values[n] : "";
}
