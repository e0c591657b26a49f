# The nixpkgs `lib` functions hyperhive's nix files use, with nixpkgs' semantics (or,
# for the module-system ones, nixpkgs' representation: mkIf gives { _type = "if"; ... }).
# There is no nixpkgs on a test machine: `nix-instantiate --eval` runs against this,
# enough to evaluate the pure renderers and the `config` half of the modules.
rec {
  inherit (builtins)
    attrNames
    concatStringsSep
    isAttrs
    isList
    mapAttrs
    ;

  optional = cond: item: if cond then [ item ] else [ ];
  optionals = cond: list: if cond then list else [ ];
  optionalAttrs = cond: attrs: if cond then attrs else { };
  nameValuePair = name: value: { inherit name value; };
  mapAttrs' = f: set: builtins.listToAttrs (map (name: f name set.${name}) (builtins.attrNames set));
  getName = drv: drv.pname or (builtins.parseDrvName drv.name).name;

  hasPrefix = prefix: str: builtins.substring 0 (builtins.stringLength prefix) str == prefix;
  removePrefix =
    prefix: str:
    if hasPrefix prefix str then
      builtins.substring (builtins.stringLength prefix) (builtins.stringLength str) str
    else
      str;
  # nixpkgs escapes `sep` for the regex; the callers here only split on plain characters
  splitString = sep: str: builtins.filter builtins.isString (builtins.split sep str);
  last = list: builtins.elemAt list (builtins.length list - 1);
  toInt = str: builtins.fromJSON str;

  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = name: mkOption {
    default = false;
    description = "Whether to enable ${name}.";
  };
  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkDefault = content: {
    _type = "override";
    priority = 1000;
    inherit content;
  };
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };
  types = {
    str = "str";
    bool = "bool";
    path = "path";
    package = "package";
    ints.positive = "positive int";
    enum = values: "one of ${concatStringsSep ", " values}";
    strMatching = regex: "string matching ${regex}";
    listOf = type: "list of ${type}";
    attrsOf = type: "attrs of ${type}";
    nullOr = type: "null or ${type}";
    submodule = module: "submodule";
  };
}
