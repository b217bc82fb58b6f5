using P2V.Windows.Registry;

namespace P2V.Cli.Commands;

/// <summary>hive create: an empty registry hive file (the base that `hivexregedit --merge` fills; hivex cannot make one).</summary>
public static class RegistryCommands
{
    public static void Register(CommandTable table)
    {
        table.Add(new Command("hive create", "Create an empty registry hive (regf) file, e.g. as the base for hivexregedit --merge",
            "<file> [--name SYSTEM]", [], CreateAsync));
    }

    private static Task<int> CreateAsync(CommandArgs a, CancellationToken cancel)
    {
        var path = a.Positional(0, "file");
        var name = a.Option("name") ?? Path.GetFileName(path);
        a.EnsureAllUsed();
        if (File.Exists(path)) throw new IOException($"{path} exists already");
        // The root key's name is what Windows' own CmpCreateHive gives a new hive.
        RegistryHive.Create($"CMI-CreateHive{{{name}}}", minorVersion: 3, fileName: name).Save(path);
        Console.Error.WriteLine($"hive create: {path}");
        return Task.FromResult(0);
    }
}
