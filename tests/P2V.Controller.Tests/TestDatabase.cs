namespace P2V.Controller.Tests;

/// <summary>Which database a test class runs the shared suite on.</summary>
public interface ITestDatabase
{
    /// <summary>A fresh, empty database: an SQLite path or a PostgreSQL connection string. Skips when it cannot exist here.</summary>
    string NewDatabase(string folder);
}

public sealed class SqliteDatabase : ITestDatabase
{
    public string NewDatabase(string folder) => Path.Combine(folder, "controller.db");
}

public sealed class PostgresDatabase(PostgresServer server) : ITestDatabase
{
    public string NewDatabase(string folder)
    {
        Skip.If(server.Unavailable != null, server.Unavailable);
        return server.NewDatabase();
    }
}

[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>;
