using System.Text;
using P2V.Migration.Cleanup;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Migration.Tests;

/// <summary>
/// The clean-up's floppy detach on each target's configuration as `p2v plan` writes it: the floppy image is gone,
/// the result is still valid for an independent reader (virt-xml-validate, xmllint, sh -n), and a second run finds
/// nothing to do.
/// </summary>
public sealed partial class BootFloppyDetacherTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    [Theory]
    [InlineData(TargetKind.VirtualServer)]
    [InlineData(TargetKind.HyperV)]
    [InlineData(TargetKind.Libvirt)]
    [InlineData(TargetKind.Qemu)]
    [InlineData(TargetKind.Vmware)]
    public void Floppy_leaves_the_configuration_and_a_second_run_changes_nothing(TargetKind target)
    {
        using var dir = new TempDirectory();
        var (plan, _) = PlanTests.SmallServerPlan(disks, target, dir.Path, dir.Path);
        var path = dir.File(HostPath.FileName(plan.ConfigFile));
        var original = MigrationFolder.Configuration(plan);
        string floppy = HostPath.FileName(plan.Floppy);
        Assert.Contains(floppy, Text(original));

        var detached = BootFloppyDetacher.Detach(path, original);
        Assert.NotNull(detached);
        File.WriteAllBytes(path, detached);
        var text = Text(detached);
        Assert.DoesNotContain(floppy, text);
        Assert.Null(BootFloppyDetacher.Detach(path, detached));

        switch (target)
        {
            case TargetKind.Libvirt:
                var r = ExternalTool.Try("virt-xml-validate", path, "domain");
                Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
                Assert.DoesNotContain("dev=\"fd\"", text);
                Assert.Contains("<boot dev=\"hd\" />", text);
                break;
            case TargetKind.VirtualServer:
                Assert.Equal(0, ExternalTool.Try("xmllint", "--noout", path).ExitCode);
                Assert.Equal(Encoding.Unicode.GetPreamble(), detached[..2]);
                Assert.Contains("<floppy id=\"0\"", text);
                break;
            case TargetKind.Qemu:
                Assert.Equal(0, ExternalTool.Try("sh", "-n", path).ExitCode);
                Assert.DoesNotContain("if=floppy", text);
                Assert.Contains("\"-boot\" \"order=c\"", text);
                break;
            case TargetKind.Vmware:
                Assert.Contains("floppy0.present = \"FALSE\"", text);
                Assert.Contains("bios.bootOrder = \"hdd\"", text);
                break;
            case TargetKind.HyperV:
                Assert.Contains("Set-VMFloppyDiskDrive -VM $vm -Path $null", text);
                Assert.Contains("-StartupOrder @('IDE', 'LegacyNetworkAdapter', 'CD', 'Floppy')", text);
                break;
        }
        // Everything else is as it was: each line that went or changed is one of the floppy's or the boot order's.
        var kept = text.Split('\n').ToHashSet();
        foreach (var line in Text(original).Split('\n').Where(l => !kept.Contains(l)))
            Assert.Matches(FloppyOrBoot(), line);
    }

    [Fact]
    public void A_file_that_is_no_configuration_is_a_one_line_error_naming_it()
    {
        var e = Assert.Throws<InvalidDataException>(() => BootFloppyDetacher.Detach("/x/WEB01.xml", "<domain><os>"u8.ToArray()));
        Assert.StartsWith("/x/WEB01.xml: line", e.Message);
        e = Assert.Throws<InvalidDataException>(() => BootFloppyDetacher.Detach("/x/WEB01.ps1", "Write-Host hi"u8.ToArray()));
        Assert.Contains("/x/WEB01.ps1", e.Message);
        e = Assert.Throws<InvalidDataException>(() => BootFloppyDetacher.Detach("/x/WEB01.txt", "x"u8.ToArray()));
        Assert.Contains("not a VM configuration", e.Message);
    }

    private static string Text(byte[] bytes) => bytes.AsSpan().StartsWith(Encoding.Unicode.GetPreamble())
        ? Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2) : Encoding.UTF8.GetString(bytes);

    [System.Text.RegularExpressions.GeneratedRegex(@"(?i)flop|\bfd|boot|pathname|absolute|relative|</disk>|<driver name=""qemu"" type=""raw""")]
    private static partial System.Text.RegularExpressions.Regex FloppyOrBoot();
}
