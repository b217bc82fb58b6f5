using System.Text;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Windows.Fixups;

namespace P2V.Windows.FirstBoot;

/// <summary>
/// The fix-up's "first boot" step (docs/drivers-and-firstboot.md): the user's scripts are copied into
/// %SystemRoot%\P2V\FirstBoot with a runner, firstboot.cmd, that Winlogon starts once at the next start, before the
/// logon screen, as LocalSystem: HKLM\SYSTEM\Setup SetupType = 2 with CmdLine naming the runner (the mechanism
/// Windows setup itself uses to run its last stage; SetupType 2 runs CmdLine, then shows the logon screen). The
/// runner first sets SetupType back to 0 with <c>regedit /s</c> (regedit.exe exists from NT 4.0 on, reg.exe only
/// from XP), then runs each script in order, its output in log\NN-name.log and a line per script with its exit code
/// in log\firstboot.log.
/// </summary>
internal sealed class FirstBootFixup
{
    public const string Step = "first boot";
    public const string Folder = @"P2V\FirstBoot", Runner = "firstboot.cmd", Reset = "firstboot-done.reg";

    private readonly string _cmdLine;

    private FirstBootFixup(string cmdLine) => _cmdLine = cmdLine;

    public static (FirstBootFixup Fixup, PlannedStep Step) Plan(NtfsVolume volume, WindowsFacts facts, IReadOnlyList<string> scripts, FixupReport report)
    {
        var folder = $@"{facts.SystemRoot}\{Folder}";
        var files = new List<(string Path, byte[] Content, string Source)>();
        var runner = new StringBuilder();
        // The folder as the running system names it: %SystemRoot% is set in Winlogon's environment, the drive letter is not known offline.
        string here = $@"%SystemRoot%\{Folder}";
        runner.Append("@echo off\r\n")
            .Append("rem P2V.Boot first-boot runner: started once by Winlogon (HKLM\\SYSTEM\\Setup SetupType=2, CmdLine).\r\n")
            .Append("rem SetupType goes back to 0 first, so a script that hangs or restarts the machine is not run again.\r\n")
            .Append($"regedit /s \"{here}\\{Reset}\"\r\n")
            .Append($"if not exist \"{here}\\log\" mkdir \"{here}\\log\"\r\n")
            .Append($"echo %DATE% %TIME% first boot: {scripts.Count} script(s)>> \"{here}\\log\\firstboot.log\"\r\n");
        for (int i = 0; i < scripts.Count; i++)
        {
            var source = scripts[i];
            if (FirstBootScript.Refusal(source) is { } refusal) { report.Errors.Add($"--firstboot {source}: {refusal}"); continue; }
            var launcher = FirstBootScript.Launchers[Path.GetExtension(source)];
            if (!File.Exists(source)) { report.Errors.Add($"--firstboot {source}: no such file"); continue; }
            // NN-name keeps the order and the user's name; NTFS names are 255 UTF-16 units.
            var name = $"{i + 1:00}-{Path.GetFileName(source)}";
            if (name.Length > 255 || name.Any(c => c < 32 || "\\/:*?\"<>|%".Contains(c))) { report.Errors.Add($"--firstboot {source}: '{name}' is not a name the runner can start"); continue; }
            files.Add(($@"{folder}\{name}", File.ReadAllBytes(source), source));
            var log = $"{here}\\log\\{name}.log";
            runner.Append($"echo %DATE% %TIME% start {name}>> \"{here}\\log\\firstboot.log\"\r\n")
                .Append(string.Format(System.Globalization.CultureInfo.InvariantCulture, launcher, $"{here}\\{name}")).Append($" > \"{log}\" 2>&1\r\n")
                .Append($"echo %DATE% %TIME% end {name}: exit code %ERRORLEVEL%>> \"{here}\\log\\firstboot.log\"\r\n");
            report.FirstBootScripts.Add($@"{folder}\{name} (log: {folder}\log\{name}.log)");
        }
        runner.Append($"echo %DATE% %TIME% first boot done>> \"{here}\\log\\firstboot.log\"\r\n");
        // REGEDIT4 (ANSI) is what NT 4.0's regedit imports; later ones take it too.
        var reset = "REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\Setup]\r\n\"SetupType\"=dword:00000000\r\n\"CmdLine\"=\"\"\r\n\r\n";
        files.Add(($@"{folder}\{Reset}", Encoding.ASCII.GetBytes(reset), "generated"));
        files.Add(($@"{folder}\{Runner}", Encoding.Latin1.GetBytes(runner.ToString()), "generated"));

        var fixup = new FirstBootFixup($@"cmd.exe /c %SystemRoot%\{Folder}\{Runner}");
        var details = files.Select(f => $"{f.Path} ({f.Content.Length} bytes, from {f.Source})").ToList();
        details.Add($@"SYSTEM\Setup: SetupType = 2, CmdLine = {fixup._cmdLine}");
        var step = new PlannedStep(Step, $"first-boot runner and {scripts.Count} script(s) in {folder}", details, w =>
        {
            w.CreateDirectories(Step, folder);
            foreach (var (path, content, source) in files) w.CreateOrReplaceFile(Step, path, content, $"{path} ({content.Length} bytes)", source);
        });
        return (fixup, step);
    }

    /// <summary>The registry part: HKLM\SYSTEM\Setup, outside the control sets. Refused while the installation is itself in setup.</summary>
    public void EditRegistry(RegistryEdits edits, FixupReport report)
    {
        var setup = edits.Open("Setup");
        var type = setup?.GetDWord("SetupType");
        var current = setup?.GetValue("CmdLine")?.AsString();
        if (type is > 0 && !string.Equals(current, _cmdLine, StringComparison.OrdinalIgnoreCase))
        {
            report.Errors.Add($"SYSTEM\\Setup SetupType is {type} (CmdLine \"{current}\"): the installation is in the middle of its own setup; the first-boot runner would replace it");
            return;
        }
        edits.SetDWord("Setup", "SetupType", 2);
        edits.SetString("Setup", "CmdLine", _cmdLine);
    }
}
