# Poetry installs what poetry.lock pins into the image's Python (the image is the environment: no virtualenv).
COPY pyproject.toml poetry.lock ./
RUN pip install --no-cache-dir poetry \
 && poetry config virtualenvs.create false \
 && poetry install --no-interaction --no-ansi --no-root --only main{{serverStep}}
