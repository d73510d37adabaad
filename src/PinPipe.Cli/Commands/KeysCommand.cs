using System.CommandLine;
using System.Globalization;
using PinPipe.Ingest.Keys;

namespace PinPipe.Cli.Commands;

/// <summary>
/// <c>pinpipe keys</c>: the ingest API's keys: create (the key shown once), list (never a key or hash), revoke. The key file
/// is <c>Ingest:KeysFile</c> (default <c>&lt;DataDir&gt;/keys.json</c>); a running <c>pinpipe serve</c> sees changes at its next request.
/// </summary>
internal static class KeysCommand
{
    private const string FileHelp = "The keys' file (only hashes; default <data-dir>/keys.json).";

    public static Command Create(GlobalOptions global)
    {
        var command = new Command("keys", "The ingest API's keys: list them (name, scope, topics, rate limit, created, revoked; never a key), create one (shown once), revoke one. "
            + "Exit codes: 1 a key of that name exists (create) or none does (revoke), 2 a bad name, scope, pattern or rate limit.");
        var listFlags = new ConfigFlags();
        listFlags.Add<string>(command, "--keys-file", "Ingest:KeysFile", FileHelp);
        command.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, listFlags, (ctx, _) => ListAsync(ctx), ct));

        var list = new Command("list", "List the keys: name, scope, topics, rate limit, created, revoked (never a key or its hash).");
        var listSubFlags = new ConfigFlags();
        listSubFlags.Add<string>(list, "--keys-file", "Ingest:KeysFile", FileHelp);
        list.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, listSubFlags, (ctx, _) => ListAsync(ctx), ct));

        var name = new Argument<string>("name") { Description = $"The key's name: 1 to {KeyStore.MaxNameLength} letters, digits, '.', '_' or '-'." };
        var scope = new Option<string>("--scope")
        {
            Description = "produce (default: produce to the topics and streams --topics matches, list and describe) or admin (everything, creating and deleting streams included).",
            DefaultValueFactory = _ => "produce",
            HelpName = "produce|admin",
        };
        scope.Validators.Add(r =>
        {
            if (ApiKey.ParseScope(r.GetValueOrDefault<string>()) is null) r.AddError($"--scope: '{r.GetValueOrDefault<string>()}' must be produce or admin.");
        });
        var topics = new Option<string?>("--topics")
        {
            Description = "The topics and streams a produce key may produce to: globs with '*', ','-separated (e.g. '12885f560a0b.*,streaming-12885f560a0b-*'); default any.",
        };
        var rateLimit = new Option<string?>("--rate-limit")
        {
            Description = $"The most requests per second the key may make, N/s (1 to {ApiKey.MaxRateLimit}); more get 429 with Retry-After, nothing written. Default none.",
            HelpName = "N/s",
        };
        rateLimit.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string?>() is { } text && ApiKey.ParseRateLimit(text) is null)
                r.AddError($"--rate-limit: '{text}' must be a whole number of requests per second from 1 to {ApiKey.MaxRateLimit}, e.g. 100/s.");
        });
        var create = new Command("create", "Create a key and print it, once: only its hash is kept. Send it in the x-api-key header or as 'Authorization: Bearer <key>'.") { name, scope, topics, rateLimit };
        var createFlags = new ConfigFlags();
        createFlags.Add<string>(create, "--keys-file", "Ingest:KeysFile", FileHelp);
        create.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, createFlags, async (ctx, token) =>
        {
            var store = new KeyStore(ctx.Settings.Ingest.KeysFile!);
            var (key, secret) = await store.CreateAsync(parse.GetValue(name)!, ApiKey.ParseScope(parse.GetValue(scope))!.Value, parse.GetValue(topics),
                ApiKey.ParseRateLimit(parse.GetValue(rateLimit)), token).ConfigureAwait(false);
            // The key alone on stdout (KEY=$(pinpipe keys create ci) keeps just it); what it is on stderr.
            await ctx.Out.WriteLineAsync(secret).ConfigureAwait(false);
            await ctx.Error.WriteLineAsync(
                $"Created key '{key.Name}' (scope {ApiKey.ScopeText(key.Scope)}, topics {Topics(key)}, rate limit {(key.RateLimit is { } limit ? $"{limit}/s" : "none")}). It is shown once, above, and never again: " +
                $"only its hash is kept, in {store.Path}. Send it in the x-api-key header or as 'Authorization: Bearer <key>'; " +
                "`pinpipe emulate --api-key <key>` posts with it.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }, ct));

        var revokeName = new Argument<string>("name") { Description = "The key to revoke." };
        var revoke = new Command("revoke", "Revoke a key: requests carrying it are refused from then on, also by a running `pinpipe serve` (no restart). Its name is not reused.") { revokeName };
        var revokeFlags = new ConfigFlags();
        revokeFlags.Add<string>(revoke, "--keys-file", "Ingest:KeysFile", FileHelp);
        revoke.SetAction((parse, ct) => CliRunner.RunAsync(parse, global, revokeFlags, async (ctx, token) =>
        {
            var store = new KeyStore(ctx.Settings.Ingest.KeysFile!);
            string keyName = parse.GetValue(revokeName)!;
            bool already = store.List().Any(k => k.Name == keyName && k.Revoked);
            var key = await store.RevokeAsync(keyName, token).ConfigureAwait(false);
            await ctx.Out.WriteLineAsync(already
                ? $"Key '{key.Name}' was already revoked ({Time(key.RevokedAt!.Value)})."
                : $"Key '{key.Name}' revoked: requests carrying it are refused from now on.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }, ct));

        command.Subcommands.Add(list);
        command.Subcommands.Add(create);
        command.Subcommands.Add(revoke);
        return command;
    }

    private static async Task<int> ListAsync(CliContext ctx)
    {
        var store = new KeyStore(ctx.Settings.Ingest.KeysFile!);
        var keys = store.List();
        if (keys.Count == 0)
        {
            await ctx.Out.WriteLineAsync($"No API keys in {store.Path}; `pinpipe keys create NAME` makes one.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        await ctx.Out.WriteLineAsync($"API keys in {store.Path} (only their hashes are kept):").ConfigureAwait(false);
        await ctx.Out.WriteLineAsync($"{"name",-24} {"scope",-8} {"topics",-40} {"rate limit",-12} {"created",-20} revoked").ConfigureAwait(false);
        foreach (var k in keys)
            await ctx.Out.WriteLineAsync($"{k.Name,-24} {ApiKey.ScopeText(k.Scope),-8} {Topics(k),-40} {Rate(k),-12} {Time(k.Created),-20} {(k.RevokedAt is { } at ? Time(at) : "-")}").ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>The topics and streams a key may produce to, as a <c>--topics</c> pattern: <c>*</c> for every one (an admin key, or a produce key without a pattern).</summary>
    private static string Topics(ApiKey key) => key.Scope == KeyScope.Admin ? "*" : key.Topics ?? "*";

    private static string Rate(ApiKey key) => key.RateLimit is { } limit ? $"{limit}/s" : "-";

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
