# No requirements.txt, pyproject.toml or Pipfile: nothing to install.{{serverStep}}
