using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace PinPipe.Tests.Design;

/// <summary>One place where code of stage <see cref="From"/> uses stage <see cref="To"/>.</summary>
/// <param name="File">The source file, relative to the repository root when under it.</param>
/// <param name="Line">1-based line (of the statement; of the method's first statement for a signature).</param>
/// <param name="What">The referenced type, or the using directive.</param>
internal sealed record StageReference(string File, int Line, string From, string To, string What)
{
    public override string ToString() => $"{File}:{Line}: {From} references {To} ({What})";
}

/// <summary>
/// Finds references between stages, the namespaces <c>&lt;root&gt;.&lt;Stage&gt;</c>: the real ones from the compiled assembly
/// (types used by IL, signatures, fields, base types, attributes; lines from its portable PDB), and the
/// <c>using &lt;root&gt;.X</c> directives and fully qualified <c>&lt;root&gt;.X.</c> names of the source text (comments and
/// strings ignored), which also catch an unused using.
/// </summary>
internal static partial class StageReferences
{
    private static readonly Dictionary<short, OperandType> OperandTypes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value, o => o.OperandType);

    /// <summary>Every reference in <paramref name="assemblyPath"/> (with its .pdb beside it) from one stage's type to another stage's type.</summary>
    public static IReadOnlyList<StageReference> InAssembly(string assemblyPath, string rootNamespace, string repoRoot)
    {
        using var pe = new PEReader(File.OpenRead(assemblyPath));
        var md = pe.GetMetadataReader();
#pragma warning disable CA2000 // the provider owns the stream (MetadataStreamOptions.Default) and disposes it with itself
        using var pdbProvider = MetadataReaderProvider.FromPortablePdbStream(File.OpenRead(Path.ChangeExtension(assemblyPath, ".pdb")));
#pragma warning restore CA2000
        var pdb = pdbProvider.GetMetadataReader();
        var provider = new TypeCollector();
        var found = new HashSet<StageReference>();
        var typeLocation = new Dictionary<TypeDefinitionHandle, (string File, int Line)?>();

        string? StageOf(TypeDefinitionHandle h)
        {
            var t = md.GetTypeDefinition(h);
            while (t.IsNested) t = md.GetTypeDefinition(t.GetDeclaringType());
            string ns = md.GetString(t.Namespace);
            if (!ns.StartsWith(rootNamespace + ".", StringComparison.Ordinal)) return null;
            return ns[(rootNamespace.Length + 1)..].Split('.')[0];
        }

        string NameOf(TypeDefinitionHandle h)
        {
            var t = md.GetTypeDefinition(h);
            string name = md.GetString(t.Name);
            return t.IsNested ? NameOf(t.GetDeclaringType()) + "+" + name : md.GetString(t.Namespace) + "." + name;
        }

        string Relative(string file) =>
            file.StartsWith(repoRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? Path.GetRelativePath(repoRoot, file).Replace('\\', '/') : file;

        (string File, int Line)? At(MethodDefinitionHandle m, int? ilOffset)
        {
            var points = pdb.GetMethodDebugInformation(m.ToDebugInformationHandle()).GetSequencePoints().Where(p => !p.IsHidden).ToList();
            if (points.Count == 0) return null;
            var point = ilOffset is { } o ? points.LastOrDefault(p => p.Offset <= o, points[0]) : points[0];
            return (Relative(pdb.GetString(pdb.GetDocument(point.Document).Name)), point.StartLine);
        }

        (string File, int Line)? TypeAt(TypeDefinitionHandle h)
        {
            if (typeLocation.TryGetValue(h, out var known)) return known;
            var t = md.GetTypeDefinition(h);
            var at = t.GetMethods().Select(m => At(m, null)).FirstOrDefault(a => a is not null)
                ?? t.GetNestedTypes().Select(TypeAt).FirstOrDefault(a => a is not null);
            typeLocation[h] = at;
            return at;
        }

        void Add(TypeDefinitionHandle from, IEnumerable<TypeDefinitionHandle> used, (string File, int Line)? at)
        {
            string? fromStage = StageOf(from);
            if (fromStage is null) return;
            foreach (var u in used)
            {
                string? toStage = StageOf(u);
                if (toStage is null || toStage == fromStage) continue;
                var where = at ?? TypeAt(from) ?? ("(no source) " + NameOf(from), 0);
                found.Add(new StageReference(where.File, where.Line, fromStage, toStage, NameOf(u)));
            }
        }

        ImmutableArray<TypeDefinitionHandle> Used(EntityHandle handle)
        {
            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition: return [(TypeDefinitionHandle)handle];
                case HandleKind.TypeSpecification: return md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(provider, md);
                case HandleKind.FieldDefinition:
                    var field = md.GetFieldDefinition((FieldDefinitionHandle)handle);
                    return [field.GetDeclaringType(), .. field.DecodeSignature(provider, md)];
                case HandleKind.MethodDefinition: return [md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType()];
                case HandleKind.MemberReference:
                    var member = md.GetMemberReference((MemberReferenceHandle)handle);
                    var parent = member.Parent.Kind is HandleKind.TypeDefinition or HandleKind.TypeSpecification or HandleKind.MethodDefinition
                        ? Used((EntityHandle)member.Parent) : [];
                    return member.GetKind() == MemberReferenceKind.Method
                        ? [.. parent, .. Flatten(member.DecodeMethodSignature(provider, md))]
                        : [.. parent, .. member.DecodeFieldSignature(provider, md)];
                case HandleKind.MethodSpecification:
                    var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    return [.. Used(spec.Method), .. spec.DecodeSignature(provider, md).SelectMany(a => a)];
                default: return [];
            }
        }

        IEnumerable<TypeDefinitionHandle> Attributes(CustomAttributeHandleCollection attributes) =>
            attributes.SelectMany(a => Used(md.GetCustomAttribute(a).Constructor));

        foreach (var typeHandle in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(typeHandle);
            var typeAt = TypeAt(typeHandle);
            if (!type.BaseType.IsNil) Add(typeHandle, Used(type.BaseType), typeAt);
            foreach (var i in type.GetInterfaceImplementations()) Add(typeHandle, Used(md.GetInterfaceImplementation(i).Interface), typeAt);
            Add(typeHandle, Attributes(type.GetCustomAttributes()), typeAt);
            foreach (var f in type.GetFields())
            {
                var field = md.GetFieldDefinition(f);
                Add(typeHandle, [.. field.DecodeSignature(provider, md), .. Attributes(field.GetCustomAttributes())], FieldAt(typeAt, md.GetString(field.Name)));
            }
            foreach (var p in type.GetProperties())
            {
                var property = md.GetPropertyDefinition(p);
                var getter = property.GetAccessors().Getter;
                Add(typeHandle, [.. Flatten(property.DecodeSignature(provider, md)), .. Attributes(property.GetCustomAttributes())],
                    (getter.IsNil ? null : At(getter, null)) ?? FieldAt(typeAt, md.GetString(property.Name)));
            }
            foreach (var m in type.GetMethods())
            {
                var method = md.GetMethodDefinition(m);
                var methodAt = At(m, null) ?? typeAt;
                Add(typeHandle, [.. Flatten(method.DecodeSignature(provider, md)), .. Attributes(method.GetCustomAttributes())], methodAt);
                if (method.RelativeVirtualAddress == 0) continue;
                var body = pe.GetMethodBody(method.RelativeVirtualAddress);
                if (!body.LocalSignature.IsNil)
                    Add(typeHandle, md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(provider, md).SelectMany(l => l), methodAt);
                var il = body.GetILReader();
                while (il.RemainingBytes > 0)
                {
                    int offset = il.Offset;
                    short code = il.ReadByte();
                    if (code == 0xFE) code = unchecked((short)(0xFE00 | il.ReadByte()));
                    switch (OperandTypes[code])
                    {
                        case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok:
                            Add(typeHandle, Used(MetadataTokens.EntityHandle(il.ReadInt32())), At(m, offset) ?? methodAt);
                            break;
                        case OperandType.InlineSwitch: int targets = il.ReadInt32(); il.Offset += 4 * targets; break;
                        case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                        case OperandType.InlineNone: break;
                        case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                        case OperandType.InlineVar: il.Offset += 2; break;
                        default: il.Offset += 4; break;
                    }
                }
            }
        }
        return [.. found.OrderBy(r => r.File, StringComparer.Ordinal).ThenBy(r => r.Line)];
    }

    /// <summary>A member's line: the first line of the type's file naming it (fields and properties have no sequence points).</summary>
    private static (string File, int Line)? FieldAt((string File, int Line)? typeAt, string name)
    {
        if (typeAt is not { } at) return null;
        var backing = BackingField().Match(name);
        if (backing.Success) name = backing.Groups[1].Value;
        string path = Path.IsPathRooted(at.File) ? at.File : Path.Combine(Support.TestData.RepoRoot, at.File);
        if (!File.Exists(path)) return at;
        var lines = CodeOnly(File.ReadAllText(path)).Split('\n')
            .Select(l => Regex.IsMatch(l, @"^\s*(?:global\s+)?using\s+[\w.=\s]+;") ? "" : l).ToArray();
        int i = Array.FindIndex(lines, l => Regex.IsMatch(l, $@"\b{Regex.Escape(name)}\s*(?:[{{;=]|=>)"));
        if (i < 0) i = Array.FindIndex(lines, l => Regex.IsMatch(l, $@"\b{Regex.Escape(name)}\b"));
        return i < 0 ? at : (at.File, i + 1);
    }

    private static IEnumerable<TypeDefinitionHandle> Flatten(MethodSignature<ImmutableArray<TypeDefinitionHandle>> signature) =>
        signature.ReturnType.Concat(signature.ParameterTypes.SelectMany(p => p));

    /// <summary>
    /// The <c>using &lt;root&gt;.X</c> directives (<c>global</c>, <c>static</c> and aliases too) and fully qualified
    /// <c>&lt;root&gt;.X.</c> names of one source file, with their lines; comments and string literals are ignored.
    /// </summary>
    public static IEnumerable<(int Line, string Stage, string What)> InSource(string text, string rootNamespace)
    {
        string code = CodeOnly(text);
        var pattern = new Regex(
            $@"^[ \t]*(?:global[ \t]+)?using[ \t]+(?:static[ \t]+)?(?:\w+[ \t]*=[ \t]*)?(?:global::)?{Regex.Escape(rootNamespace)}\.(?<stage>\w+)[^;\n]*;"
            + $@"|(?<![\w.])(?:global::)?{Regex.Escape(rootNamespace)}\.(?<stage>\w+)\.\w",
            RegexOptions.Multiline);
        foreach (Match m in pattern.Matches(code))
        {
            int line = 1 + code.AsSpan(0, m.Index).Count('\n');
            yield return (line, m.Groups["stage"].Value, m.Value.Trim());
        }
    }

    /// <summary>The text with comments and string and character literals blanked out (line breaks kept, so lines stay).</summary>
    internal static string CodeOnly(string text)
    {
        var chars = text.ToCharArray();
        int i = 0;
        void Blank(int from, int to) { for (int k = from; k < to && k < chars.Length; k++) if (chars[k] != '\n') chars[k] = ' '; }
        while (i < chars.Length)
        {
            char c = chars[i];
            char next = i + 1 < chars.Length ? chars[i + 1] : '\0';
            if (c == '/' && next == '/')
            {
                int end = text.IndexOf('\n', i);
                end = end < 0 ? text.Length : end;
                Blank(i, end);
                i = end;
            }
            else if (c == '/' && next == '*')
            {
                int end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                end = end < 0 ? text.Length : end + 2;
                Blank(i, end);
                i = end;
            }
            else if (c == '"' || c == '\'' || (c is '@' or '$' && next is '"' or '@' or '$'))
            {
                int start = i;
                bool verbatim = false;
                while (i < chars.Length && chars[i] is '@' or '$') { verbatim |= chars[i] == '@'; i++; }
                char quote = chars[i];
                int quotes = 0;
                while (i + quotes < chars.Length && chars[i + quotes] == '"') quotes++;
                if (quote == '"' && quotes >= 3)
                {
                    // raw string literal: ends at the same run of quotes
                    int end = text.IndexOf(new string('"', quotes), i + quotes, StringComparison.Ordinal);
                    i = end < 0 ? text.Length : end + quotes;
                }
                else
                {
                    i++;
                    while (i < chars.Length)
                    {
                        if (!verbatim && chars[i] == '\\') { i += 2; continue; }
                        if (chars[i] == quote)
                        {
                            if (verbatim && i + 1 < chars.Length && chars[i + 1] == quote) { i += 2; continue; }
                            i++;
                            break;
                        }
                        if (!verbatim && chars[i] == '\n') break;
                        i++;
                    }
                }
                Blank(start, i);
            }
            else i++;
        }
        return new string(chars);
    }

    [GeneratedRegex(@"^<(\w+)>k__BackingField$")]
    private static partial Regex BackingField();

    /// <summary>Collects the types defined in the assembly that a signature mentions.</summary>
    private sealed class TypeCollector : ISignatureTypeProvider<ImmutableArray<TypeDefinitionHandle>, MetadataReader>
    {
        public ImmutableArray<TypeDefinitionHandle> GetPrimitiveType(PrimitiveTypeCode typeCode) => [];
        public ImmutableArray<TypeDefinitionHandle> GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => [handle];
        public ImmutableArray<TypeDefinitionHandle> GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => [];
        public ImmutableArray<TypeDefinitionHandle> GetTypeFromSpecification(MetadataReader reader, MetadataReader genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
        public ImmutableArray<TypeDefinitionHandle> GetSZArrayType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetArrayType(ImmutableArray<TypeDefinitionHandle> elementType, ArrayShape shape) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetByReferenceType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetPointerType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetPinnedType(ImmutableArray<TypeDefinitionHandle> elementType) => elementType;
        public ImmutableArray<TypeDefinitionHandle> GetGenericInstantiation(ImmutableArray<TypeDefinitionHandle> genericType, ImmutableArray<ImmutableArray<TypeDefinitionHandle>> typeArguments) =>
            [.. genericType, .. typeArguments.SelectMany(a => a)];
        public ImmutableArray<TypeDefinitionHandle> GetGenericMethodParameter(MetadataReader genericContext, int index) => [];
        public ImmutableArray<TypeDefinitionHandle> GetGenericTypeParameter(MetadataReader genericContext, int index) => [];
        public ImmutableArray<TypeDefinitionHandle> GetFunctionPointerType(MethodSignature<ImmutableArray<TypeDefinitionHandle>> signature) => [.. Flatten(signature)];
        public ImmutableArray<TypeDefinitionHandle> GetModifiedType(ImmutableArray<TypeDefinitionHandle> modifier, ImmutableArray<TypeDefinitionHandle> unmodifiedType, bool isRequired) => unmodifiedType;
    }
}
