"""lazyotel's examples: ``ktrade`` (a traced typer CLI), the API it calls, and the demo."""
