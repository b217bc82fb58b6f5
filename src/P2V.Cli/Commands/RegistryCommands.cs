using System.CommandLine;
using P2V.Windows.Registry;

namespace P2V.Cli.Commands;

/// <summary>hive create: an empty registry hive file (the base that `hivexregedit --merge` fills; hivex cannot make one).</summary>
public static class RegistryCommands
{
    public static void AddTo(RootCommand root)
    {
        var file = new Argument<string>("file") { Description = "The hive file to create" };
        var name = new Option<string>("--name") { Description = "The hive's name, e.g. SYSTEM (default: the file's name)", HelpName = "NAME" };
        var create = new Command("create", "Create an empty registry hive (regf) file, e.g. as the base for hivexregedit --merge") { file, name };
        create.SetAction(r => Create(r.GetValue(file)!, r.GetValue(name) ?? Path.GetFileName(r.GetValue(file)!)));
        CliHost.Group(root, "hive", "Registry hive files").Add(create);
    }

    private static int Create(string path, string name)
    {
        if (File.Exists(path)) throw new IOException($"{path} exists already");
        // The root key's name is what Windows' own CmpCreateHive gives a new hive.
        RegistryHive.Create($"CMI-CreateHive{{{name}}}", minorVersion: 3, fileName: name).Save(path);
        Console.Error.WriteLine($"hive create: {path}");
        return 0;
    }
}
