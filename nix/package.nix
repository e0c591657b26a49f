# The hyperhive Python application (pyproject, setuptools).
{
  lib,
  python3Packages,
  git,
}:
let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
in
python3Packages.buildPythonApplication {
  pname = "hyperhive";
  inherit (pyproject.project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      (lib.fileset.maybeMissing ../README.md)
      ../hyperhive
    ];
  };

  build-system = [ python3Packages.setuptools ];

  dependencies = with python3Packages; [
    aiosqlite
    dulwich
    asyncssh
    textual
    mcp
    plotext
    pyte
  ];

  # nixpkgs may trail the upper bounds of pyproject.toml by a release or two
  pythonRelaxDeps = true;

  # `hyperhive agent` commits as the agent; the host side also shells out to git
  makeWrapperArgs = [ "--suffix PATH : ${lib.makeBinPath [ git ]}" ];

  # the test suite needs root, systemd-nspawn and network-free fakes: CI runs it
  doCheck = false;
  pythonImportsCheck = [ "hyperhive.core" ];

  meta = {
    inherit (pyproject.project) description;
    license = lib.licenses.mit;
    mainProgram = "hyperhive";
    platforms = lib.platforms.linux;
  };
}
