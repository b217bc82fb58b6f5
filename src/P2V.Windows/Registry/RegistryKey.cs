namespace P2V.Windows.Registry;

/// <summary>
/// A key of a <see cref="RegistryHive"/>: a handle on its key node cell, which never moves while the hive is open
/// (edits reallocate lists and data, never key nodes). Paths use backslashes and are case-insensitive.
/// </summary>
public sealed class RegistryKey
{
    internal RegistryKey(RegistryHive hive, uint offset, string? path)
    {
        Hive = hive;
        Offset = offset;
        _path = path;
    }

    private readonly string? _path;

    public RegistryHive Hive { get; }

    /// <summary>The key node's cell offset (relative to the hive bins data).</summary>
    public uint Offset { get; }

    public string Name => Hive.ReadKey(Offset).Name;

    /// <summary>The path below the hive's root ("" for the root).</summary>
    public string Path => _path ?? "";

    public DateTime LastWritten => DateTime.FromFileTimeUtc(Math.Max(0, Hive.ReadKey(Offset).LastWritten));

    public int SubkeyCount => (int)Hive.ReadKey(Offset).SubkeyCount;

    public int ValueCount => (int)Hive.ReadKey(Offset).ValueCount;

    /// <summary>The key's class name, if it has one (rare; some Lsa keys do).</summary>
    public string? ClassName => Hive.ReadClassName(Offset);

    public IReadOnlyList<RegistryKey> Subkeys =>
        Hive.Children(Offset).Select(c => new RegistryKey(Hive, c.Offset, Join(c.Name))).ToList();

    public IEnumerable<string> SubkeyNames => Hive.Children(Offset).Select(c => c.Name);

    public IReadOnlyList<RegistryValue> Values => Hive.Values(Offset);

    /// <summary>The key at <paramref name="path"/> below this one, or null.</summary>
    public RegistryKey? OpenSubkey(string path)
    {
        var key = this;
        foreach (var part in Split(path))
        {
            var child = Hive.FindChild(key.Offset, part);
            if (child is null) return null;
            key = new RegistryKey(Hive, child.Value, key.Join(Hive.ReadKey(child.Value).Name));
        }
        return key;
    }

    public RegistryValue? GetValue(string name) => Hive.FindValue(Offset, name)?.Value;

    public string? GetString(string name) => GetValue(name)?.AsString();

    public uint? GetDWord(string name) => GetValue(name) is { Data.Length: >= 4 } v ? v.AsDWord() : null;

    public string[]? GetMultiString(string name) => GetValue(name)?.AsMultiString();

    /// <summary>Opens or creates the key at <paramref name="path"/> (each missing level is created).</summary>
    public RegistryKey CreateSubkey(string path)
    {
        var key = this;
        foreach (var part in Split(path))
        {
            uint child = Hive.FindChild(key.Offset, part) ?? Hive.AddSubkey(key.Offset, part);
            key = new RegistryKey(Hive, child, key.Join(Hive.ReadKey(child).Name));
        }
        return key;
    }

    /// <summary>Deletes the subkey (with everything below it); false when there is none.</summary>
    public bool DeleteSubkey(string name) => Hive.DeleteSubkey(Offset, name);

    public void SetValue(string name, RegistryValueKind kind, ReadOnlySpan<byte> data) => Hive.SetValue(Offset, name, kind, data);

    public void SetString(string name, string value, RegistryValueKind kind = RegistryValueKind.String) =>
        SetValue(name, kind, RegistryValue.EncodeString(value));

    public void SetDWord(string name, uint value) => SetValue(name, RegistryValueKind.DWord, BitConverter.GetBytes(value));

    public void SetQWord(string name, ulong value) => SetValue(name, RegistryValueKind.QWord, BitConverter.GetBytes(value));

    public void SetMultiString(string name, IEnumerable<string> value) =>
        SetValue(name, RegistryValueKind.MultiString, RegistryValue.EncodeMultiString(value));

    /// <summary>Deletes a value; false when there is none.</summary>
    public bool DeleteValue(string name) => Hive.DeleteValue(Offset, name);

    public override string ToString() => Path.Length == 0 ? "\\" : Path;

    private string Join(string child) => Path.Length == 0 ? child : Path + "\\" + child;

    private static string[] Split(string path) => path.Split('\\', StringSplitOptions.RemoveEmptyEntries);
}
