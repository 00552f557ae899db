"""wallet-sync: catch-up sync of loyalty cards to Google Wallet and Apple Wallet.

The package is the library; ``workers`` holds what the processes run. Import
``pipeline.api`` for the calls an application makes (enqueue one card, open a
run), and see ``pipeline.errors`` for the error tree.
"""

__version__ = "0.1.0"
