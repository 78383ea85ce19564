"""One command core for members and managers, reached from every platform and the CLI.

``registry`` holds the commands and dispatches them; ``permissions`` decides who is a manager;
``audit`` records every call; ``selfservice`` and the ``commands_*`` modules are the commands.
"""
