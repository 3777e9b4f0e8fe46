# The dependencies pyproject.toml lists under [project].
COPY pyproject.toml ./
RUN pip install --no-cache-dir {{packages}}
