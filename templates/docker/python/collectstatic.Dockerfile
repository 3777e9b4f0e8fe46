# Django's static files, collected into STATIC_ROOT at build by the app's user, so it owns them.
RUN python manage.py collectstatic --noinput
