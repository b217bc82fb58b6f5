using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using P2V.Imaging.VirtualDisks;

namespace P2V.Cli;

/// <summary>
/// The options several commands share, typed and validated by the parser, so that a wrong value is a one-line
/// usage error before any work. Each call makes a new option: a command owns its options.
/// </summary>
public static class CliOptions
{
    public static Option<bool> Json(string description = "Print the result as JSON on standard output") =>
        new("--json") { Description = description };

    public static Option<string> Output(string description, bool required = false, string helpName = "FILE") =>
        new("--output", "-o") { Description = description, Required = required, HelpName = helpName };

    /// <summary>--workers: 1 to 4 × the cores; each worker holds a few chunks, so the bound also bounds memory.</summary>
    public static Option<int> Workers()
    {
        int max = MaxWorkers;
        var option = Int("--workers", $"Compress/decompress threads, 1 to {max} (default: one per core)",
            min: 1, max: max, helpName: "N");
        option.DefaultValueFactory = _ => Environment.ProcessorCount;
        return option;
    }

    public static int MaxWorkers => 4 * Environment.ProcessorCount;

    public static Option<int?> SectorSize(string description) =>
        Parsed("--sector-size", description, s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v is 512 or 4096
            ? v : throw new ArgumentException($"--sector-size must be 512 or 4096, not '{s}'"), "512|4096", "512", "4096");

    /// <summary>A size option such as --size 8G (binary units).</summary>
    public static Option<long?> Size(string name, string description) =>
        Parsed(name, description, s => ByteSize.TryParse(s, out long v) ? v : throw new ArgumentException($"{name}: '{s}' is not a size (e.g. 512, 64K, 8G)"), "SIZE");

    /// <summary>--format raw|vhd|vhd-fixed|vhdx|vhdx-fixed.</summary>
    public static Option<VirtualDiskFormat?> DiskFormat(string description, bool required = false)
    {
        var option = Parsed("--format", description,
            s => VirtualDisk.ParseFormat(s) is var f && f != VirtualDiskFormat.Vmdk ? f : throw new ArgumentException("--format: vmdk is written only by p2v createvm (--disk-format vmdk); use raw, vhd, vhd-fixed, vhdx or vhdx-fixed"),
            "raw|vhd|vhd-fixed|vhdx|vhdx-fixed",
            "raw", "vhd", "vhd-fixed", "vhdx", "vhdx-fixed");
        option.Required = required;
        return option;
    }

    /// <summary>A whole-number option within [min, max]; anything else is one line naming the option and the range.</summary>
    public static Option<int> Int(string name, string description, int min = int.MinValue, int max = int.MaxValue, string helpName = "N") =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r =>
            {
                string s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
                if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v))
                    r.AddError($"{name} expects a whole number, not '{s}'");
                else if (v < min || v > max)
                    r.AddError(max == int.MaxValue ? $"{name} must be at least {min}, not {v}" : $"{name} must be {min} to {max}, not {v}");
                return v;
            },
        };

    /// <summary>
    /// An option whose value a library parses (a format, a target, an address); the library's
    /// <see cref="ArgumentException"/> becomes the usage error.
    /// </summary>
    public static Option<T?> Parsed<T>(string name, string description, Func<string, T> parse, string helpName, params string[] completions) where T : struct
    {
        var option = new Option<T?>(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r => ParseToken<T?>(r, s => parse(s)),
        };
        if (completions.Length > 0) option.CompletionSources.Add(completions);
        return option;
    }

    /// <summary><see cref="Parsed{T}"/> for a reference-typed value.</summary>
    /// <summary>--patches URL: the patch library's tar, which the boot agent fetches, so an http(s) URL.</summary>
    public static Option<string> PatchesUrl(string description) => TarUrl("--patches", description);

    /// <summary>A tar the boot agent fetches (--patches, --drivers, --firstboot), so an http(s) URL.</summary>
    public static Option<string> TarUrl(string name, string description)
    {
        var option = new Option<string>(name) { Description = description, HelpName = "URL" };
        option.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is { } p && !(Uri.TryCreate(p, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"))
                r.AddError($"{name} '{p}' is not an http URL (the agent fetches the tar from it)");
        });
        return option;
    }

    public static Option<T> ParsedRef<T>(string name, string description, Func<string, T> parse, string helpName) where T : class =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = r => ParseToken<T>(r, parse),
        };

    private static T? ParseToken<T>(ArgumentResult r, Func<string, T> parse)
    {
        string s = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        try { return parse(s); }
        catch (ArgumentException e)
        {
            r.AddError(e.Message);
            return default;
        }
    }
}
