using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;

namespace P2V.Migration.Cleanup;

/// <summary>
/// The clean-up's "remove the boot floppy" for a VM configuration that `p2v plan`/`createvm` wrote, in each target's
/// own format: the floppy's image leaves the configuration and the disk boots first. The configuration is edited
/// rather than written again from the plan, so that what the operator changed in it by hand stays.
/// </summary>
public static partial class BootFloppyDetacher
{
    /// <summary>
    /// The configuration without its boot floppy, or null when it holds none any more (clean-up ran already).
    /// Throws <see cref="InvalidDataException"/> naming the file when it is not a configuration this knows.
    /// </summary>
    public static byte[]? Detach(string path, byte[] content)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        try
        {
            return ext switch
            {
                ".vmc" => VirtualServer(content),
                ".xml" => Libvirt(content),
                ".vmx" => Vmware(content),
                ".sh" => Qemu(content),
                ".ps1" => HyperV(content),
                _ => throw new InvalidDataException($"{path}: not a VM configuration p2v knows (.vmc, .xml, .vmx, .sh, .ps1)"),
            };
        }
        catch (XmlException e)
        {
            throw new InvalidDataException($"{path}: line {e.LineNumber}: not well-formed XML: {e.Message}", e);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Virtual Server (.vmc, UTF-16 with a BOM, CRLF): super_io/floppy loses its pathname, the drive stays empty.</summary>
    private static byte[]? VirtualServer(byte[] content)
    {
        XDocument doc;
        using (var reader = new StreamReader(new MemoryStream(content), Encoding.Unicode, detectEncodingFromByteOrderMarks: true))
            doc = XDocument.Load(reader);
        if (doc.Root?.Name != "preferences") throw new FormatException("the root element is not <preferences>");
        var paths = doc.Root.Elements("hardware").Elements("super_io").Elements("floppy").Elements("pathname").ToList();
        if (paths.Count == 0) return null;
        paths.ForEach(p => p.Remove());
        // As VirtualServerVmc writes it: the declaration by hand, tabs, CRLF.
        var text = new StringBuilder();
        var settings = new XmlWriterSettings { Indent = true, IndentChars = "\t", NewLineChars = "\r\n", OmitXmlDeclaration = true };
        using (var w = XmlWriter.Create(text, settings)) doc.Root.WriteTo(w);
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n" + text + "\r\n";
        return [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(xml)];
    }

    /// <summary>libvirt (https://libvirt.org/formatdomain.html): the floppy &lt;disk&gt; and &lt;boot dev="fd"/&gt; go.</summary>
    private static byte[]? Libvirt(byte[] content)
    {
        var doc = XDocument.Parse(Encoding.UTF8.GetString(content));
        if (doc.Root?.Name != "domain") throw new FormatException("the root element is not a libvirt <domain>");
        var floppy = doc.Root.Elements("devices").Elements("disk").Where(d => (string?)d.Attribute("device") == "floppy").ToList();
        var boot = doc.Root.Elements("os").Elements("boot").Where(b => (string?)b.Attribute("dev") == "fd").ToList();
        if (floppy.Count == 0 && boot.Count == 0) return null;
        floppy.ForEach(e => e.Remove());
        boot.ForEach(e => e.Remove());
        return Encoding.UTF8.GetBytes(doc.ToString() + "\n");
    }

    /// <summary>VMware (.vmx, key = "value" lines): floppy0 not present, no file, and the BIOS boots the disk.</summary>
    private static byte[]? Vmware(byte[] content)
    {
        var lines = Encoding.UTF8.GetString(content).Split('\n').ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        bool changed = false;
        var result = new List<string>();
        foreach (var line in lines)
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? "" : line[..eq].Trim();
            string value = eq < 0 ? "" : line[(eq + 1)..].Trim().Trim('"');
            switch (key.ToLowerInvariant())
            {
                case "floppy0.present" when !value.Equals("FALSE", StringComparison.OrdinalIgnoreCase):
                    result.Add("floppy0.present = \"FALSE\""); changed = true; break;
                case "floppy0.filename" or "floppy0.filetype" or "floppy0.startconnected":
                    changed = true; break;
                case "bios.bootorder" when value.Split(',').Any(v => v.Trim() == "floppy"):
                    var order = value.Split(',').Select(v => v.Trim()).Where(v => v != "floppy").ToList();
                    if (order.Count > 0) result.Add($"bios.bootOrder = \"{string.Join(",", order)}\"");
                    changed = true; break;
                default: result.Add(line); break;
            }
        }
        return changed ? Encoding.UTF8.GetBytes(string.Join("\n", result) + "\n") : null;
    }

    /// <summary>QEMU (the sh script, one option per line): the if=floppy drive line goes and -boot order loses 'a'.</summary>
    private static byte[]? Qemu(byte[] content)
    {
        var text = Encoding.UTF8.GetString(content);
        if (!text.StartsWith("#!", StringComparison.Ordinal)) throw new FormatException("not a shell script");
        var lines = text.Split('\n').ToList();
        int removed = lines.RemoveAll(l => FloppyDrive().IsMatch(l));
        bool reordered = false;
        for (int i = 0; i < lines.Count; i++)
        {
            var m = BootOrder().Match(lines[i]);
            if (!m.Success || !m.Groups["order"].Value.Contains('a', StringComparison.Ordinal)) continue;
            string order = m.Groups["order"].Value.Replace("a", "", StringComparison.Ordinal);
            lines[i] = lines[i][..m.Groups["order"].Index] + (order.Length > 0 ? order : "c") + lines[i][(m.Groups["order"].Index + m.Groups["order"].Length)..];
            reordered = true;
        }
        return removed > 0 || reordered ? Encoding.UTF8.GetBytes(string.Join("\n", lines)) : null;
    }

    /// <summary>Hyper-V (the PowerShell script): the floppy drive is emptied (-Path $null) and comes last in the startup order.</summary>
    private static byte[]? HyperV(byte[] content)
    {
        var text = Encoding.UTF8.GetString(content);
        if (!text.Contains("New-VM", StringComparison.Ordinal)) throw new FormatException("not a Hyper-V VM script (no New-VM)");
        var lines = text.Split('\n');
        bool changed = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string eol = lines[i].EndsWith('\r') ? "\r" : "";
            var line = lines[i].TrimEnd('\r');
            if (line.StartsWith("Set-VMFloppyDiskDrive ", StringComparison.Ordinal) && FloppyPath().Match(line) is { Success: true } p && p.Groups["path"].Value != "$null")
            {
                lines[i] = line[..p.Groups["path"].Index] + "$null" + eol;
                changed = true;
            }
            else if (line.StartsWith("Set-VMBios ", StringComparison.Ordinal) && StartupOrder().Match(line) is { Success: true } o)
            {
                var order = o.Groups["order"].Value.Split(',').Select(s => s.Trim()).ToList();
                if (order.FirstOrDefault() != "'Floppy'") continue;
                order.RemoveAt(0);
                order.Add("'Floppy'");
                lines[i] = line[..o.Groups["order"].Index] + string.Join(", ", order) + line[(o.Groups["order"].Index + o.Groups["order"].Length)..] + eol;
                changed = true;
            }
        }
        return changed ? Encoding.UTF8.GetBytes(string.Join("\n", lines)) : null;
    }

    // QemuCommandLine quotes every word: "-drive" "file=…,if=floppy,index=0" \
    [GeneratedRegex(@"^\s*""?-drive""?\s+[^\n]*\bif=floppy\b")]
    private static partial Regex FloppyDrive();

    [GeneratedRegex(@"^\s*""?-boot""?\s+""?(?:[^""\s]*,)?order=(?<order>[a-z]+)")]
    private static partial Regex BootOrder();

    [GeneratedRegex(@"-Path (?<path>'(?:[^']|'')*'|\$null)\s*$")]
    private static partial Regex FloppyPath();

    [GeneratedRegex(@"-StartupOrder @\((?<order>[^)]*)\)")]
    private static partial Regex StartupOrder();
}
