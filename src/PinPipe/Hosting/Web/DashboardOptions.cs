namespace PinPipe.Hosting.Web;

/// <summary>Settings of the dashboard the API serves at <c>/ui</c> (section <c>Dashboard</c>).</summary>
public sealed record DashboardOptions
{
    /// <summary>Whether the API serves the dashboard at <c>/ui</c> (same API keys, through a sign-in form). Default true.</summary>
    public bool Enabled { get; init; } = true;
}
