using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace P2V.Controller.Tests;

/// <summary>
/// A real, throwaway PostgreSQL on loopback for the test run: initdb into a temporary folder as an unprivileged user
/// (nobody, when the tests run as root: PostgreSQL refuses to run as root), a random free port, pg_ctl start; stopped
/// and removed at the end. Each test gets its own database. Unavailable (no Debian postgresql) → the tests skip.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    public const string BinFolder = "/usr/lib/postgresql/15/bin";
    private readonly string? _folder;
    private int _databases;

    public PostgresServer()
    {
        if (!File.Exists(Path.Combine(BinFolder, "initdb")))
        {
            Unavailable = $"PostgreSQL is not installed ({BinFolder}/initdb; tools/setup installs Debian's postgresql)";
            return;
        }
        _folder = Directory.CreateTempSubdirectory("p2v-pg-").FullName;
        var data = Path.Combine(_folder, "data");
        Port = LoopbackPort.Free();
        if (Environment.UserName == "root") Run("chown", "nobody:nogroup", _folder);
        File.SetUnixFileMode(_folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        AsPostgresUser("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C");
        // Listen on loopback only, sockets in our folder (not /run/postgresql), fsync off: a test cluster holds nothing to keep.
        AsPostgresUser("pg_ctl", "-D", data, "-l", Path.Combine(_folder, "log"), "-w", "-t", "60", "-o",
            $"-c listen_addresses=127.0.0.1 -p {Port} -k {_folder} -c fsync=off -c max_connections=300", "start");
        Started = true;
    }

    public string? Unavailable { get; }
    public bool Started { get; }
    public int Port { get; }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true;Maximum Pool Size=50";

    /// <summary>A new empty database, so tests never see each other's rows.</summary>
    public string NewDatabase()
    {
        var name = $"p2v_test_{Interlocked.Increment(ref _databases)}_{Environment.ProcessId}";
        using var c = new NpgsqlConnection(ConnectionString("postgres"));
        c.Open();
        using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
        cmd.ExecuteNonQuery();
        return ConnectionString(name);
    }

    private void AsPostgresUser(string tool, params string[] args)
    {
        var path = Path.Combine(BinFolder, tool);
        if (Environment.UserName == "root") Run("runuser", ["-u", "nobody", "--", path, .. args]);
        else Run(path, args);
    }

    private static void Run(string tool, params string[] args)
    {
        var r = ExternalTool.RunWith(tool, args, stdin: null, check: false, timeoutMs: 120_000);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {r.ExitCode}: {r.StdErr}{r.StdOut}");
    }

    public void Dispose()
    {
        if (_folder == null) return;
        NpgsqlConnection.ClearAllPools();
        if (Started)
        {
            try { AsPostgresUser("pg_ctl", "-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop"); }
            catch (InvalidOperationException) { } // already gone; the folder goes anyway
        }
        Directory.Delete(_folder, recursive: true);
    }
}
