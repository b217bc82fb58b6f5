using System.Security.Cryptography;
using System.Text;
using P2V.Controller.Data;

namespace P2V.Controller.Api;

/// <summary>
/// The admin token: made at the first start, kept in the database (so every controller sharing it accepts the same
/// token) and written to DATA/admin-token, readable by its owner only, for the operator and the local `p2v` command.
/// </summary>
public static class AdminToken
{
    public const string FileName = "admin-token";

    public static async Task<string> EnsureAsync(ControllerDatabase db, string dataFolder, CancellationToken cancel = default)
    {
        var path = Path.Combine(dataFolder, FileName);
        string? fromFile = File.Exists(path) ? (await File.ReadAllTextAsync(path, cancel)).Trim() : null;
        var candidate = string.IsNullOrEmpty(fromFile) ? New() : fromFile;
        string token;
        await using (var c = await db.ConnectAsync(cancel))
        {
            await c.ExecuteAsync("INSERT INTO settings (name, value) VALUES ('admin_token', @t) ON CONFLICT (name) DO NOTHING", cancel, ("@t", candidate));
            token = (string)(await c.ScalarAsync("SELECT value FROM settings WHERE name = 'admin_token'", cancel))!;
        }
        if (token != fromFile) Write(path, token);
        return token;
    }

    /// <summary>Owner-only from its creation (never a moment world-readable), then renamed into place.</summary>
    private static void Write(string path, string token)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = path + ".partial";
        File.Delete(partial);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var f = new FileStream(partial, options))
        {
            f.Write(Encoding.ASCII.GetBytes(token + "\n"));
            f.Flush(flushToDisk: true);
        }
        File.Move(partial, path, overwrite: true);
    }

    private static string New() => "adm_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Constant-time: the comparison does not tell an attacker how many leading characters were right.</summary>
    public static bool Matches(string expected, string? given) =>
        given != null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(given));
}
