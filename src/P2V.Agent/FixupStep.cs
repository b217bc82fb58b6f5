using System.Formats.Tar;
using System.Text.Json;
using P2V.Imaging.VirtualDisks;
using P2V.Windows;
using P2V.Windows.Fixups;

namespace P2V.Agent;

/// <summary>
/// The "fixup" step (the source document's HAL/kernel swap and more, docs/fixups.md) on the Windows volume of the
/// VM's first disk, for the hypervisor the job's fixup settings name: <c>{"target", "vcpus"?, "patches"?}</c>, where
/// patches is the URL of a tar of the patch library (its folder layout), fetched into memory's /tmp. The fix-up
/// report goes to the controller as the report "fixup".
/// </summary>
internal sealed class FixupStep(JobContext context)
{
    public async Task RunAsync(CancellationToken cancel)
    {
        var settings = Settings(context.Job.Fixup);
        TargetHypervisor target;
        try { target = TargetHypervisor.Parse(settings.Target); }
        catch (ArgumentException e) { throw new InvalidDataException("fixup settings: " + e.Message); }
        string? patches = settings.Patches is { } url ? await FetchPatchesAsync(url, cancel) : null;

        string device = context.DeployedDisks.FirstOrDefault() ?? context.LocalDisks()[0];
        context.Log.Write($"fixup: {device} for {settings.Target}, {settings.Vcpus} vCPU(s){(patches is null ? ", no patch library" : "")}");
        using var disk = VirtualDisk.Open(device, writable: true);
        var plan = FixupPlanner.Plan(disk, device, new FixupOptions { Target = target, Vcpus = settings.Vcpus, PatchDirectory = patches });
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
        string? patches = null;
        if (f.TryGetProperty("patches", out var p) && p.ValueKind != JsonValueKind.Null)
            patches = p.ValueKind == JsonValueKind.String ? p.GetString() : throw new InvalidDataException($"fixup settings: \"patches\" is {p.GetRawText()}, not a URL");
        return new FixupSettings(target, vcpus, patches);
    }

    private async Task<string> FetchPatchesAsync(string url, CancellationToken cancel)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new InvalidDataException($"fixup settings: patches '{url}' is not an http URL");
        string dir = Path.Combine(Path.GetTempPath(), "patches");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.CreateDirectory(dir);
        await context.RetryAsync("patch library", async () =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
            using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancel);
            if (!response.IsSuccessStatusCode) throw new HttpRequestException($"{url}: {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync(cancel);
            // ExtractToDirectory refuses entries that would land outside the folder.
            await TarFile.ExtractToDirectoryAsync(body, dir, overwriteFiles: true, cancel);
            return true;
        }, cancel);
        context.Log.Write($"fixup: patch library from {url}: {Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Count()} files");
        return dir;
    }
}
