using P2V.Windows.Registry;

namespace P2V.Windows.Fixups;

/// <summary>
/// Registry edits made on an in-memory hive, each recorded as a <see cref="FixupChange"/> with the old type
/// and data (or the fact that the key or value did not exist). Values already as wanted are left alone, so a
/// second run changes nothing.
/// </summary>
internal sealed class RegistryEdits(RegistryHive hive, string hivePath, string step)
{
    public List<FixupChange> Changes { get; } = [];
    public List<string> Details { get; } = [];

    public RegistryKey? Open(string path) => hive.Root.OpenSubkey(path);

    /// <summary>Opens the key, creating the missing levels; <paramref name="createdFrom"/> is the highest level created, or null.</summary>
    private RegistryKey OpenOrCreate(string path, out string? createdFrom)
    {
        createdFrom = null;
        var key = hive.Root.OpenSubkey(path);
        if (key is not null) return key;
        var parts = path.Split('\\', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 1; i <= parts.Length; i++)
        {
            var prefix = string.Join('\\', parts[..i]);
            if (hive.Root.OpenSubkey(prefix) is null) { createdFrom = prefix; break; }
        }
        return hive.Root.CreateSubkey(path);
    }

    public void SetDWord(string keyPath, string name, uint value, bool onlyIfMissing = false) =>
        Set(keyPath, name, RegistryValueKind.DWord, BitConverter.GetBytes(value), $"dword:{value}", onlyIfMissing);

    public void SetString(string keyPath, string name, string value, RegistryValueKind kind = RegistryValueKind.String, bool onlyIfMissing = false) =>
        Set(keyPath, name, kind, RegistryValue.EncodeString(value), $"\"{value}\"", onlyIfMissing);

    public void SetMultiString(string keyPath, string name, IReadOnlyList<string> items) =>
        Set(keyPath, name, RegistryValueKind.MultiString, RegistryValue.EncodeMultiString(items), $"[{string.Join(", ", items)}]", onlyIfMissing: false);

    public void Set(string keyPath, string name, RegistryValueKind kind, byte[] data, string shown, bool onlyIfMissing)
    {
        var existingKey = hive.Root.OpenSubkey(keyPath);
        var old = existingKey?.GetValue(name);
        if (old is not null && (onlyIfMissing || AlreadyAsWanted(old, kind, data))) return;
        var key = OpenOrCreate(keyPath, out var createdFrom);
        bool created = createdFrom is not null;
        key.SetValue(name, kind, data);
        Changes.Add(new FixupChange
        {
            Kind = FixupChange.RegistryKind,
            Step = step,
            Description = $"{keyPath}\\{name} = {shown}{(old is null ? (created ? " (new key)" : " (new value)") : $" (was {old})")}",
            Path = hivePath,
            Key = keyPath,
            Value = name,
            OldKind = old?.Kind.ToString(),
            OldData = old is null ? null : Convert.ToHexString(old.Data),
            NewKind = kind.ToString(),
            NewData = Convert.ToHexString(data),
            KeyCreated = created,
            CreatedKey = createdFrom,
        });
        Details.Add(Changes[^1].Description);
    }

    /// <summary>
    /// The same type and data; for text, the same text in any letter case — Windows compares the names, GUIDs and
    /// paths held there case-insensitively, and setup writes "{4d36e96a-…}" where the fix-up writes "{4D36E96A-…}".
    /// </summary>
    private static bool AlreadyAsWanted(RegistryValue old, RegistryValueKind kind, byte[] data)
    {
        if (old.Kind != kind) return false;
        if (old.Data.AsSpan().SequenceEqual(data)) return true;
        var wanted = new RegistryValue(old.Name, kind, data);
        return kind switch
        {
            RegistryValueKind.String or RegistryValueKind.ExpandString => string.Equals(old.AsString(), wanted.AsString(), StringComparison.OrdinalIgnoreCase),
            RegistryValueKind.MultiString => old.AsMultiString().SequenceEqual(wanted.AsMultiString(), StringComparer.OrdinalIgnoreCase),
            _ => false,
        };
    }

    public void Delete(string keyPath, string name)
    {
        var key = hive.Root.OpenSubkey(keyPath);
        var old = key?.GetValue(name);
        if (key is null || old is null) return;
        key.DeleteValue(name);
        Changes.Add(new FixupChange
        {
            Kind = FixupChange.RegistryKind,
            Step = step,
            Description = $"{keyPath}\\{name} deleted (was {old})",
            Path = hivePath,
            Key = keyPath,
            Value = name,
            OldKind = old.Kind.ToString(),
            OldData = Convert.ToHexString(old.Data),
        });
        Details.Add(Changes[^1].Description);
    }
}
