# Pipenv installs what Pipfile.lock pins into the image's Python (--deploy: fail if the lock is out of date).
COPY {{copyFiles}} ./
RUN pip install --no-cache-dir pipenv \
 && pipenv install --system --deploy{{serverStep}}
