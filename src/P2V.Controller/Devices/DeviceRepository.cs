using System.Data.Common;
using P2V.Controller.Data;

namespace P2V.Controller.Devices;

/// <summary>The devices table.</summary>
public sealed class DeviceRepository(ControllerDatabase db)
{
    private const string Columns = "mac, name, controlled, boot_action, default_template, inventory IS NOT NULL, created_at, updated_at, last_boot_at";

    /// <summary>Creates the device or updates what is given (a null name or inventory keeps the stored one).</summary>
    public async Task<Device> UpsertAsync(string mac, string? name, string? inventory, CancellationToken cancel = default)
    {
        mac = MacAddress.Normalize(mac);
        await using var c = await db.ConnectAsync(cancel);
        long now = Sql.Now();
        await c.ExecuteAsync("""
            INSERT INTO devices (mac, name, inventory, created_at, updated_at) VALUES (@mac, @name, @inv, @now, @now)
            ON CONFLICT (mac) DO UPDATE SET name = COALESCE(excluded.name, devices.name),
                inventory = COALESCE(excluded.inventory, devices.inventory), updated_at = excluded.updated_at
            """, cancel, ("@mac", mac), ("@name", name), ("@inv", inventory), ("@now", now));
        return (await GetAsync(c, mac, cancel))!;
    }

    /// <summary>A network boot: the device is created uncontrolled when it is new (first PXE contact), and its boot time noted.</summary>
    public async Task<Device> SeenBootingAsync(string mac, CancellationToken cancel = default)
    {
        mac = MacAddress.Normalize(mac);
        await using var c = await db.ConnectAsync(cancel);
        long now = Sql.Now();
        await c.ExecuteAsync("""
            INSERT INTO devices (mac, created_at, updated_at, last_boot_at) VALUES (@mac, @now, @now, @now)
            ON CONFLICT (mac) DO UPDATE SET last_boot_at = excluded.last_boot_at
            """, cancel, ("@mac", mac), ("@now", now));
        return (await GetAsync(c, mac, cancel))!;
    }

    public async Task<Device?> GetAsync(string mac, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return await GetAsync(c, MacAddress.Normalize(mac), cancel);
    }

    private static async Task<Device?> GetAsync(DbConnection c, string mac, CancellationToken cancel) =>
        (await c.QueryAsync($"SELECT {Columns} FROM devices WHERE mac = @mac", Read, cancel, ("@mac", mac))).FirstOrDefault();

    public async Task<List<Device>> ListAsync(CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return await c.QueryAsync($"SELECT {Columns} FROM devices ORDER BY mac", Read, cancel);
    }

    public async Task<string?> GetInventoryAsync(string mac, CancellationToken cancel = default)
    {
        await using var c = await db.ConnectAsync(cancel);
        return (string?)await c.ScalarAsync("SELECT inventory FROM devices WHERE mac = @mac", cancel, ("@mac", MacAddress.Normalize(mac)));
    }

    /// <summary>Take control or release; null leaves a setting as it is. False when there is no such device.</summary>
    public async Task<Device?> UpdateAsync(string mac, bool? controlled, DeviceBootAction? bootAction, JobTemplate? template, CancellationToken cancel = default)
    {
        mac = MacAddress.Normalize(mac);
        await using var c = await db.ConnectAsync(cancel);
        int n = await c.ExecuteAsync("""
            UPDATE devices SET controlled = COALESCE(@controlled, controlled), boot_action = COALESCE(@action, boot_action),
                default_template = COALESCE(@template, default_template), updated_at = @now
            WHERE mac = @mac
            """, cancel, ("@mac", mac), ("@controlled", controlled),
            ("@action", bootAction is { } a ? Words.Of(a) : null), ("@template", template is { } t ? Words.Of(t) : null), ("@now", Sql.Now()));
        return n == 0 ? null : await GetAsync(c, mac, cancel);
    }

    private static Device Read(DbDataReader r) => new(
        r.GetString(0), r.NullableString(1), r.GetBoolean(2), Words.ParseBootAction(r.GetString(3)), Words.ParseTemplate(r.GetString(4)),
        r.GetBoolean(5), Sql.Time(r.GetInt64(6)), Sql.Time(r.GetInt64(7)), r.NullableInt64(8) is { } b ? Sql.Time(b) : null);
}
