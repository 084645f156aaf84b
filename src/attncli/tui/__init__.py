"""`attn view`: the terminal explorer. explorer.py holds what it shows (numpy only), panels.py
draws it as Rich Text, app.py is the Textual app; only app.py imports textual, and only
commands/view.py imports app.py, so no other command pays for Textual at start-up."""
