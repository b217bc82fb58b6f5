using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace P2V.Controller.Data;

public enum DatabaseKind { Sqlite, Postgres }

/// <summary>
/// The controller's database: an SQLite file in the data folder by default, or PostgreSQL when given a connection
/// string ("Host=…"), so several controllers can share one. Plain ADO.NET with named parameters (@name), which both
/// providers accept; the few dialect differences live in <see cref="SchemaMigrations"/>.
/// </summary>
public sealed class ControllerDatabase : IAsyncDisposable
{
    private readonly NpgsqlDataSource? _postgres;
    private readonly string? _sqlite;

    private ControllerDatabase(NpgsqlDataSource? postgres, string? sqlite, string display)
    {
        _postgres = postgres;
        _sqlite = sqlite;
        Display = display;
    }

    public DatabaseKind Kind => _postgres != null ? DatabaseKind.Postgres : DatabaseKind.Sqlite;

    /// <summary>Where the data is, for log lines; never the password.</summary>
    public string Display { get; }

    /// <summary>A connection string with "Host=" is PostgreSQL; anything else is the path of an SQLite file.</summary>
    public static async Task<ControllerDatabase> OpenAsync(string target, CancellationToken cancel = default)
    {
        ControllerDatabase db;
        if (target.Contains("Host=", StringComparison.OrdinalIgnoreCase))
        {
            NpgsqlConnectionStringBuilder csb;
            try { csb = new NpgsqlConnectionStringBuilder(target); }
            catch (ArgumentException e) { throw new ArgumentException($"database connection string: {e.Message}"); }
            db = new ControllerDatabase(NpgsqlDataSource.Create(csb.ConnectionString), null, $"postgresql://{csb.Host}:{csb.Port}/{csb.Database}");
        }
        else
        {
            var path = Path.GetFullPath(target);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var cs = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
            db = new ControllerDatabase(null, cs, path);
        }
        try
        {
            await SchemaMigrations.ApplyAsync(db, cancel);
            return db;
        }
        catch
        {
            await db.DisposeAsync();
            throw;
        }
    }

    public async Task<DbConnection> ConnectAsync(CancellationToken cancel = default)
    {
        if (_postgres != null) return await _postgres.OpenConnectionAsync(cancel);
        var c = new SqliteConnection(_sqlite);
        await c.OpenAsync(cancel);
        // WAL: readers (the console, agents polling) never wait for a writer; NORMAL sync is durable at each
        // checkpoint and never corrupts on power loss.
        using (var pragma = c.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
            await pragma.ExecuteNonQueryAsync(cancel);
        }
        return c;
    }

    public ValueTask DisposeAsync()
    {
        if (_postgres != null) return _postgres.DisposeAsync();
        SqliteConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Small helpers over ADO.NET commands: named parameters, nullable values, single values.</summary>
public static class Sql
{
    public static DbCommand Command(this DbConnection c, string text, params (string Name, object? Value)[] parameters)
    {
        var cmd = c.CreateCommand();
        cmd.CommandText = text;
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        return cmd;
    }

    public static async Task<int> ExecuteAsync(this DbConnection c, string text, CancellationToken cancel, params (string, object?)[] parameters)
    {
        await using var cmd = c.Command(text, parameters);
        return await cmd.ExecuteNonQueryAsync(cancel);
    }

    public static async Task<object?> ScalarAsync(this DbConnection c, string text, CancellationToken cancel, params (string, object?)[] parameters)
    {
        await using var cmd = c.Command(text, parameters);
        var v = await cmd.ExecuteScalarAsync(cancel);
        return v is DBNull ? null : v;
    }

    public static async Task<List<T>> QueryAsync<T>(this DbConnection c, string text, Func<DbDataReader, T> map, CancellationToken cancel, params (string, object?)[] parameters)
    {
        await using var cmd = c.Command(text, parameters);
        await using var r = await cmd.ExecuteReaderAsync(cancel);
        var list = new List<T>();
        while (await r.ReadAsync(cancel)) list.Add(map(r));
        return list;
    }

    public static string? NullableString(this DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);
    public static long? NullableInt64(this DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);
    public static double? NullableDouble(this DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetDouble(i);

    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    public static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
