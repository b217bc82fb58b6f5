using System.Net;
using P2V.Netboot;
using P2V.Netboot.Boot;

namespace P2V.Controller;

/// <summary>What <c>p2v server</c> runs with.</summary>
public sealed class ControllerOptions
{
    /// <summary>The data folder: the SQLite database, the admin token, the folder store, boot files.</summary>
    public required string DataFolder { get; init; }

    /// <summary>A PostgreSQL connection string ("Host=…"), or null for DATA/controller.db (SQLite).</summary>
    public string? Database { get; init; }

    /// <summary>The image store: a folder, or s3://BUCKET[/PREFIX] (keys from the environment); null for DATA/store.</summary>
    public string? Store { get; init; }

    /// <summary>The S3-compatible endpoint for an s3:// store (null: AWS, or P2V_S3_ENDPOINT).</summary>
    public string? S3Endpoint { get; init; }

    public IPEndPoint Listen { get; init; } = new(IPAddress.Any, DefaultPort);

    public const int DefaultPort = 8060;

    /// <summary>The URL agents and the generated scripts reach this controller at; by default from <see cref="Listen"/>.</summary>
    public string? AdvertisedUrl { get; init; }

    /// <summary>
    /// The netboot services (TFTP, boot HTTP, optional DHCP), given the controller's boot policy to put in their
    /// options, so each MAC boots what its device and jobs say; null for none.
    /// </summary>
    public Func<IBootPolicy, NetbootServerOptions>? Netboot { get; init; }

    /// <summary>How long GET /api/agent/next waits for a job before answering 204.</summary>
    public TimeSpan LongPoll { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Names this process in claimed_by, so the job history tells which controller handed a job out.</summary>
    public string InstanceName { get; init; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Random.Shared.Next(0x10000):x4}";

    /// <summary>Set once the server listens: the advertised URL, or one made from the bound address and port.</summary>
    public string PublicUrl { get; internal set; } = "";

    /// <summary>The image store's base URL that agents are given (the controller hosts the store).</summary>
    public string StoreUrl => PublicUrl;
}
