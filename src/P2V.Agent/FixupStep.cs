using System.Formats.Tar;
using System.Text.Json;
using P2V.Imaging.VirtualDisks;
using P2V.Windows;
using P2V.Windows.Drivers;
using P2V.Windows.FirstBoot;
using P2V.Windows.Fixups;

namespace P2V.Agent;

/// <summary>
/// The "fixup" step (the source document's HAL/kernel swap and more, docs/fixups.md) on the Windows volume of the
/// VM's first disk, for the hypervisor the job's fixup settings name: <c>{"target", "vcpus"?, "patches"?, "drivers"?,
/// "firstboot"?}</c>, where patches, drivers and firstboot are URLs of tars — the patch library (its folder layout), a
/// folder of driver packages, the first-boot scripts in the order they run — fetched into memory's /tmp. The drivers and
/// scripts are installed by the same code as `p2v fixup --drivers --firstboot` (docs/drivers-and-firstboot.md). The
/// fix-up report goes to the controller as the report "fixup".
/// </summary>
internal sealed class FixupStep(JobContext context)
{
    private FixupSettings? _settings;
    private TargetHypervisor? _target;
    private string? _patches, _drivers;
    private IReadOnlyList<string> _firstBoot = [];
    /// <summary>The firstboot tar's files in its order.</summary>
    private readonly List<string> _order = [];

    /// <summary>
    /// Before any step writes a disk: the settings checked and the tars fetched and checked (every driver INF parses,
    /// every first-boot script is one the runner can start), so a bad setting fails the job early.
    /// </summary>
    public async Task PrepareAsync(CancellationToken cancel)
    {
        _settings = Settings(context.Job.Fixup);
        try { _target = TargetHypervisor.Parse(_settings.Target); }
        catch (ArgumentException e) { throw new InvalidDataException("fixup settings: " + e.Message); }
        if (_settings.Patches is { } patches)
        {
            _patches = await FetchTarAsync("patches", patches, cancel);
            context.Log.Write($"fixup: patch library from {patches}: {Directory.EnumerateFiles(_patches, "*", SearchOption.AllDirectories).Count()} files");
        }
        if (_settings.Drivers is { } drivers) _drivers = CheckDrivers(drivers, await FetchTarAsync("drivers", drivers, cancel));
        if (_settings.FirstBoot is { } firstBoot) _firstBoot = CheckFirstBoot(firstBoot, await FetchTarAsync("firstboot", firstBoot, cancel));
    }

    public async Task RunAsync(CancellationToken cancel)
    {
        if (_settings is null) await PrepareAsync(cancel);
        var (settings, target, patches) = (_settings!, _target!, _patches);

        string device = context.DeployedDisks.FirstOrDefault() ?? context.LocalDisks()[0];
        context.Log.Write($"fixup: {device} for {settings.Target}, {settings.Vcpus} vCPU(s){(patches is null ? ", no patch library" : "")}"
            + $"{(_drivers is null ? "" : ", drivers")}{(_firstBoot.Count == 0 ? "" : $", {_firstBoot.Count} first-boot script(s)")}");
        using var disk = VirtualDisk.Open(device, writable: true);
        var plan = FixupPlanner.Plan(disk, device, new FixupOptions
        {
            Target = target, Vcpus = settings.Vcpus, PatchDirectory = patches, DriverDirectory = _drivers, FirstBootScripts = _firstBoot,
        });
        if (plan.Report.Errors.Count > 0)
        {
            await context.Controller.ReportAsync(context.Job.Id, "fixup", plan.Report.ToJson(), cancel);
            throw new InvalidDataException($"fix-up not started: {plan.Report.Errors[0]}");
        }
        var done = plan.Apply(Path.Combine(Path.GetTempPath(), "fixup.json"));
        disk.Flush();
        foreach (var line in done.ToText().Split('\n', StringSplitOptions.RemoveEmptyEntries)) context.Log.Write("fixup: " + line);
        await context.Controller.ReportAsync(context.Job.Id, "fixup", done.ToJson(), cancel);
        if (done.Errors.Count > 0) throw new InvalidDataException($"fix-up: {done.Errors[0]}");
    }

    /// <summary>The job's fixup settings, each field checked with a one-line reason.</summary>
    internal static FixupSettings Settings(JsonElement? fixup)
    {
        var f = fixup is { ValueKind: JsonValueKind.Object } o ? o
            : throw new InvalidDataException("the job has a fixup step but no fixup settings (target, vcpus, patches)");
        string target = f.TryGetProperty("target", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()!
            : throw new InvalidDataException("fixup settings: no \"target\" (virtualserver, hyperv, qemu …)");
        int vcpus = 1;
        if (f.TryGetProperty("vcpus", out var v) && !(v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out vcpus) && vcpus is >= 1 and <= 255))
            throw new InvalidDataException($"fixup settings: \"vcpus\" is {v.GetRawText()}, not a number from 1 to 255");
        return new FixupSettings(target, vcpus, Url(f, "patches"), Url(f, "drivers"), Url(f, "firstboot"));
    }

    private static string? Url(JsonElement settings, string name)
    {
        if (!settings.TryGetProperty(name, out var p) || p.ValueKind == JsonValueKind.Null) return null;
        string url = p.ValueKind == JsonValueKind.String ? p.GetString()! : throw new InvalidDataException($"fixup settings: \"{name}\" is {p.GetRawText()}, not a URL");
        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? url
            : throw new InvalidDataException($"fixup settings: {name} '{url}' is not an http URL");
    }

    /// <summary>Every INF in the driver tar parses (file and line otherwise), and there is one: a tar of the wrong folder is refused here, not after the deploy.</summary>
    private string CheckDrivers(string url, string dir)
    {
        var infs = Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .Where(f => f.EndsWith(".inf", StringComparison.OrdinalIgnoreCase)).ToList();
        if (infs.Count == 0) throw new InvalidDataException($"fixup settings: the drivers tar {url} holds no .inf file (a tar of a folder of driver packages is expected)");
        foreach (var inf in infs)
        {
            try { DriverPackage.Load(inf); }
            catch (InfFormatException e) { throw new InvalidDataException($"fixup settings: drivers tar {url}: {Path.GetRelativePath(dir, inf)}: {e.Message}", e); }
        }
        context.Log.Write($"fixup: drivers from {url}: {infs.Count} INF file(s)");
        return dir;
    }

    /// <summary>The first-boot tar's files in the tar's order (the order they run), each a kind of script the runner can start.</summary>
    private List<string> CheckFirstBoot(string url, string dir)
    {
        var scripts = _order.Select(name => Path.Combine(dir, name)).ToList();
        if (scripts.Count == 0) throw new InvalidDataException($"fixup settings: the firstboot tar {url} holds no script");
        foreach (var script in scripts)
            if (FirstBootScript.Refusal(script) is { } refusal) throw new InvalidDataException($"fixup settings: firstboot tar {url}: {Path.GetFileName(script)}: {refusal}");
        context.Log.Write($"fixup: first-boot scripts from {url}: {string.Join(", ", scripts.Select(Path.GetFileName))}");
        return scripts;
    }

    /// <summary>
    /// The tar at <paramref name="url"/> unpacked into /tmp/<paramref name="name"/> (a fresh folder). Entries are read one
    /// by one: only files and folders, none outside the folder; the firstboot tar's files must be at its top, and their
    /// order is kept.
    /// </summary>
    private async Task<string> FetchTarAsync(string name, string url, CancellationToken cancel)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new InvalidDataException($"fixup settings: {name} '{url}' is not an http URL");
        string dir = Path.Combine(Path.GetTempPath(), name);
        await context.RetryAsync($"{name} tar", async () =>
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            Directory.CreateDirectory(dir);
            if (name == "firstboot") _order.Clear();
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
            using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancel);
            if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{url}: {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync(cancel);
            try
            {
                await using var tar = new TarReader(body);
                int entries = 0;
                while (await tar.GetNextEntryAsync(copyData: false, cancel) is { } entry)
                {
                    entries++;
                    string path = entry.Name.Replace('\\', '/');
                    while (path.StartsWith("./", StringComparison.Ordinal)) path = path[2..];
                    path = path.TrimEnd('/');
                    if (path == ".") path = "";
                    if (path.Length == 0 && entry.EntryType == TarEntryType.Directory) continue; // "./"
                    string full = Path.GetFullPath(Path.Combine(dir, path));
                    if (path.Length == 0 || !full.StartsWith(dir + "/", StringComparison.Ordinal) || path.Split('/').Contains(".."))
                        throw new InvalidDataException($"entry '{entry.Name}' is outside the folder");
                    switch (entry.EntryType)
                    {
                        case TarEntryType.Directory:
                            if (name == "firstboot") throw new InvalidDataException($"entry '{entry.Name}' is a folder; the scripts belong at the tar's top");
                            Directory.CreateDirectory(full);
                            break;
                        case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                            if (name == "firstboot" && path.Contains('/')) throw new InvalidDataException($"entry '{entry.Name}' is in a folder; the scripts belong at the tar's top");
                            if (File.Exists(full)) throw new InvalidDataException($"entry '{entry.Name}' is there twice");
                            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                            await entry.ExtractToFileAsync(full, overwrite: false, cancel);
                            if (name == "firstboot") _order.Add(path);
                            break;
                        default:
                            throw new InvalidDataException($"entry '{entry.Name}' is a {entry.EntryType}, not a file or folder");
                    }
                }
                if (entries == 0) throw new InvalidDataException("not a tar (no entry)");
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or ArgumentException or EndOfStreamException)
            {
                throw new InvalidDataException($"fixup settings: the {name} tar {url}: {e.Message}", e);
            }
            return true;
        }, cancel);
        return dir;
    }
}
